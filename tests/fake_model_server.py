"""A fake model server that the real agent CLIs can talk to offline.

One stdlib ``ThreadingHTTPServer`` answers the three vendor APIs the CLIs use:

* Anthropic ``POST /v1/messages`` (``?beta=true``): SSE stream when ``"stream": true``,
  else one JSON message; ``/v1/messages/count_tokens`` too.  (claude)
* OpenAI Responses ``POST /v1/responses``: SSE stream; ``GET /v1/models``.  (codex)
* Gemini ``POST /v1beta/models/{model}:streamGenerateContent?alt=sse``, plus
  ``:generateContent`` and ``:countTokens``.  (gemini)

Every reply carries ``text`` split into ``chunks`` non-empty deltas (``chunks`` is
clamped to ``len(text)``), with ``chunk_delay`` seconds slept before each delta, and
reports ``input_tokens`` / ``output_tokens`` as usage; the first ``fail_first`` agent calls are
answered with a 400 error instead.  With ``tool_command`` set, the first
turn is a shell tool call running it instead (see ``tests.fake_tool_calls``).  With ``script``, each
request's reply text and tool command come from ``script(vendor, user_text)`` (scripted answers,
e.g. a pipeline's research, plans and critic votes).  Every request is recorded in
``server.requests`` (dicts with ``method``, ``path``, ``headers``, ``body``; ``body`` is
the decoded JSON, or the raw text if it is not JSON) so tests can check what arrived.

Usage::

    with FakeModelServer(text="hi", chunks=3, chunk_delay=0.1) as server:
        server.url  # "http://127.0.0.1:PORT"

or ``python -m tests.fake_model_server --port 8765 --text hello`` for a manual demo.
"""

from __future__ import annotations

import argparse
import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests import fake_protocols as proto
from tests import fake_tool_calls as tools

# (vendor, user_text) -> (reply, tool_command) or (reply, tool_command, seconds to stream the reply over)
Script = Callable[[str, str], tuple[str, str | None] | tuple[str, str | None, float]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        text = raw.decode("utf-8", "replace")
        try:
            return json.loads(text) if text else None
        except ValueError:
            return text

    def _record(self, body: Any) -> None:
        self.server.owner._record(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )

    def do_GET(self) -> None:
        self._record(None)
        path = urlsplit(self.path).path
        if path.rstrip("/").endswith("/models"):
            return self._json(200, proto.model_list(self.server.owner.model))
        self._json(404, {"error": {"message": f"fake server: no GET {path}"}})

    def do_HEAD(self) -> None:
        # Some clients probe the base URL for connectivity; say "alive".
        self._record(None)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self._read_body()
        self._record(body)
        owner = self.server.owner
        path = urlsplit(self.path).path
        req = body if isinstance(body, dict) else {}
        if path.endswith("/messages/count_tokens"):
            return self._json(200, {"input_tokens": owner.input_tokens})
        if proto.is_generation(path) and owner.planned_failure(self.headers.get("X-Claude-Code-Session-Id")):
            # ``x-should-retry: false`` keeps the CLI from retrying by itself: the hub must.
            error = {"type": "invalid_request_error", "message": "fake server: a planned failure"}
            return self._json(400, {"type": "error", "error": error}, {"x-should-retry": "false"})
        cfg = owner.for_request(path, req) if proto.is_generation(path) else owner
        call = tools.pick_call(cfg, req) if proto.is_generation(path) else None
        if call and path.endswith("/messages") and req.get("stream"):
            return self._sse(tools.anthropic_tool_events(cfg, req, *call), cfg.chunk_delay)
        if call and path.endswith("/responses"):
            return self._sse(tools.openai_tool_events(cfg, req, *call), cfg.chunk_delay)
        if call and ":streamGenerateContent" in path:
            return self._sse(tools.gemini_tool_events(cfg, *call), cfg.chunk_delay)
        if path.endswith("/messages"):
            if req.get("stream"):
                return self._sse(proto.anthropic_events(cfg, req), cfg.chunk_delay)
            return self._json(200, proto.anthropic_message(cfg, req))
        if path.endswith("/responses"):
            return self._sse(proto.openai_events(cfg, req), cfg.chunk_delay)
        if ":streamGenerateContent" in path:
            return self._sse(proto.gemini_events(cfg, path), cfg.chunk_delay)
        if ":generateContent" in path:
            return self._json(200, proto.gemini_response(cfg, path, req))
        if ":countTokens" in path:
            return self._json(200, {"totalTokens": owner.input_tokens})
        self._json(404, {"error": {"message": f"fake server: no POST {path}"}})

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: Iterator[tuple[str | None, dict[str, Any] | None]], delay: float) -> None:
        """``delay``: the seconds slept at each pause marker (the request's own, from the script)."""
        # No Content-Length: the stream ends when we close the connection.
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for name, data in events:
                if data is None:  # a pause marker: sleep, then flush what we have
                    time.sleep(delay)
                    continue
                frame = (f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n"
                self.wfile.write(frame.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (e.g. a cancelled agent): that's fine


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeModelServer


class FakeModelServer:
    """A fake Anthropic + OpenAI + Gemini endpoint on 127.0.0.1 (see module docstring)."""

    def __init__(
        self,
        text: str = "Hello from the fake model.",
        *,
        chunks: int = 3,
        chunk_delay: float = 0.0,
        input_tokens: int = 11,
        output_tokens: int = 7,
        model: str = "fake-model",
        tool_command: str | None = None,
        port: int = 0,
        verbose: bool = False,
        fail_first: int = 0,
        script: Script | None = None,
    ) -> None:
        self.text = text
        self.chunks = max(1, min(chunks, len(text) or 1))
        self.chunk_delay = chunk_delay
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.model = model
        self.tool_command = tool_command
        self.port = port
        self.verbose = verbose
        self.failures_left = fail_first
        self.script = script
        self.failed_sessions: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def pieces(self) -> list[str]:
        """The reply text split into ``self.chunks`` non-empty deltas."""
        size, extra = divmod(len(self.text), self.chunks)
        out, pos = [], 0
        for i in range(self.chunks):
            step = size + (1 if i < extra else 0)
            out.append(self.text[pos : pos + step])
            pos += step
        return [p for p in out if p] or [""]

    def for_request(self, path: str, req: dict[str, Any]) -> FakeModelServer:
        """The settings one completion request is answered with: ``script(vendor, user_text)``
        (vendor ``claude``, ``codex`` or ``gemini``; the request's user messages joined) may give
        its own reply text and tool command, as ``(text, tool_command or None)``, and optionally the
        seconds over which to stream the reply, as a third item."""
        if self.script is None:
            return self
        vendor = "claude" if "/messages" in path else "codex" if path.endswith("/responses") else "gemini"
        text, tool_command, *slow = self.script(vendor, "\n".join(proto.user_texts(req)))
        reply = copy.copy(self)
        reply.text, reply.tool_command = text, tool_command
        reply.chunks = max(1, min(self.chunks, len(text) or 1))
        if slow:  # (text, tool_command, seconds): the reply streamed a character at a time over that long
            reply.chunks = max(1, len(text))
            reply.chunk_delay = slow[0] / reply.chunks
        return reply

    def planned_failure(self, session: str | None) -> bool:
        """True for every request of the first ``fail_first`` agent calls (answered with a 400).

        A call is a claude session (its own retries included); other CLIs count each request.
        """
        with self._lock:
            if session is not None and session in self.failed_sessions:
                return True
            if self.failures_left <= 0:
                return False
            self.failures_left -= 1
            if session is not None:
                self.failed_sessions.add(session)
            return True

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    def model_requests(self) -> list[dict[str, Any]]:
        """Recorded requests that asked for a completion (any provider)."""
        return [r for r in list(self.requests) if proto.is_generation(r["path"])]

    def user_texts(self) -> list[str]:
        """All user-message texts from every completion request, in arrival order."""
        return [t for r in self.model_requests() for t in proto.user_texts(r["body"])]

    def start(self) -> FakeModelServer:
        self._httpd = _Server(("127.0.0.1", self.port), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Anthropic/OpenAI/Gemini model server.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--text", default="Hello from the fake model.")
    parser.add_argument("--chunks", type=int, default=3)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    parser.add_argument("--input-tokens", type=int, default=11)
    parser.add_argument("--output-tokens", type=int, default=7)
    parser.add_argument("--tool-command", default=None)
    args = parser.parse_args(argv)
    server = FakeModelServer(
        args.text,
        chunks=args.chunks,
        chunk_delay=args.chunk_delay,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        tool_command=args.tool_command,
        port=args.port,
        verbose=True,
    ).start()
    print(f"fake model server on {server.url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
