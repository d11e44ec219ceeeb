"""The fake model server's scripted slow replies really stream slowly: the CLI tests that stop an
agent mid-answer (a time limit, a cancel, a hub restart) rely on it."""

from __future__ import annotations

import json
import time
import urllib.request

from tests.fake_model_server import FakeModelServer


def slow_when_asked(vendor: str, text: str) -> tuple[str, str | None] | tuple[str, str | None, float]:
    return ("slow!", None, 1.0) if "take your time" in text else ("fast!", None)


def stream(server: FakeModelServer, prompt: str) -> tuple[str, float]:
    """A gemini streaming request, as the gemini CLI sends it: the text it got, and how long it took."""
    body = json.dumps({"contents": [{"role": "user", "parts": [{"text": prompt}]}]}).encode()
    request = urllib.request.Request(
        f"{server.url}/v1beta/models/fake-model:streamGenerateContent?alt=sse",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=10) as response:
        lines = response.read().decode().splitlines()
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    return text, time.monotonic() - started


def test_a_scripted_slow_reply_streams_over_its_seconds_and_the_others_stay_fast() -> None:
    with FakeModelServer(script=slow_when_asked) as server:
        slow_text, slow_seconds = stream(server, "take your time")
        fast_text, fast_seconds = stream(server, "quick please")
    assert (slow_text, fast_text) == ("slow!", "fast!")
    assert slow_seconds >= 0.9
    assert fast_seconds < 0.5
