"""Token-by-token output: the real CLIs against a fake model that streams its reply in pieces.

``delta`` frames reach the terminal socket as the model writes, in order, before the whole message,
and join to it; the stored log keeps only the whole message, so a late socket replays no delta
and shows the same final text. codex 0.169's ``exec --json`` prints no deltas (the message comes
whole), which the last test pins down so a CLI update that adds them is noticed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from agents.models import ExecutionLogEntry
from tests.fake_model_server import FakeModelServer
from tests.support.agent_runs import RunnerThread, launch, make_template, point_clis_at
from tests.support.communicators import HubCommunicator

pytestmark = [pytest.mark.cli, pytest.mark.django_db(transaction=True)]

ANSWER = "Alpha beta gamma delta epsilon zeta."


@pytest.fixture
def streaming_clis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any) -> Iterator[FakeModelServer]:
    with FakeModelServer(text=ANSWER, chunks=6, chunk_delay=0.15) as server:
        point_clis_at(server, monkeypatch, tmp_path / "home", settings)
        yield server


async def frames_until_finished(client: HubCommunicator, timeout: float = 90) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not frames or frames[-1]["type"] != "status":
        frames.append(json.loads(await client.receive_from(timeout=max(deadline - loop.time(), 0.1))))
    return frames


async def run_watched(api_client: APIClient, project: dict[str, Any], node: dict[str, Any], agent_type: str) -> tuple:
    template = await database_sync_to_async(make_template)(api_client, [("Answer", agent_type, "Say it")])
    execution = await database_sync_to_async(launch)(api_client, project, node, template)
    client = HubCommunicator(f"/projects/{project['id']}/executions/{execution['id']}/terminal")
    assert (await client.connect())[0]
    runner = await database_sync_to_async(RunnerThread)()
    runner.__enter__()
    try:
        frames = await frames_until_finished(client)
    finally:
        await asyncio.to_thread(runner.__exit__, None, None, None)
        await client.disconnect()
    return execution, frames


def whole_messages(frames: list[dict[str, Any]]) -> list[int]:
    return [i for i, f in enumerate(frames) if f["type"] == "output" and (f.get("event") or {}).get("kind") == "text"]


@pytest.mark.parametrize("agent_type", ["claude", "gemini"])
async def test_deltas_arrive_in_order_before_the_whole_message_and_a_late_socket_replays_none(
    api_client: APIClient,
    streaming_clis: FakeModelServer,
    project: dict[str, Any],
    node: dict[str, Any],
    agent_type: str,
) -> None:
    execution, frames = await run_watched(api_client, project, node, agent_type)
    assert frames[-1]["status"] == "completed", frames[-3:]
    [message] = whole_messages(frames)
    deltas = [i for i, f in enumerate(frames) if f["type"] == "delta"]
    assert deltas and max(deltas) < message  # every piece before the whole message
    pieces = [frames[i]["data"] for i in deltas]
    assert pieces == streaming_clis.pieces()  # as the model wrote them, in order
    assert "".join(pieces) == ANSWER == frames[message]["data"].rstrip("\n")
    assert all("seq" not in frames[i] and frames[i]["step_run_id"] == frames[message]["step_run_id"] for i in deltas)

    stored = await database_sync_to_async(
        lambda: list(ExecutionLogEntry.objects.filter(execution_id=execution["id"]).values_list("kind", flat=True))
    )()
    assert "delta" not in stored

    late = HubCommunicator(f"/projects/{project['id']}/executions/{execution['id']}/terminal")
    assert (await late.connect())[0]
    assert (await late.receive_json_from())["type"] == "connected"
    replay = await frames_until_finished(late, timeout=10)
    await late.disconnect()
    assert [f for f in replay if f["type"] == "delta"] == []
    assert [replay[i]["data"] for i in whole_messages(replay)] == [ANSWER + "\n"]
    live_stored = [f for f in frames if "seq" in f]
    assert [f["seq"] for f in replay] == [f["seq"] for f in live_stored]  # the same frames, the deltas aside


async def test_codex_exec_prints_no_deltas_and_its_message_arrives_whole(
    api_client: APIClient, streaming_clis: FakeModelServer, project: dict[str, Any], node: dict[str, Any]
) -> None:
    _, frames = await run_watched(api_client, project, node, "codex")
    assert frames[-1]["status"] == "completed", frames[-3:]
    assert [f for f in frames if f["type"] == "delta"] == []
    assert [frames[i]["data"] for i in whole_messages(frames)] == [ANSWER + "\n"]
