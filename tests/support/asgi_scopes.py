"""An HTTP scope as the hub's server hands it to the ASGI app, for tests that call the app directly."""

from __future__ import annotations

import asyncio
from typing import Any


def scope(method: str, path: str, body: bytes = b"", **extra: bytes) -> dict[str, Any]:
    headers = [
        (b"host", extra.pop("host", b"localhost:8000")),  # the port the scope says the hub listens on
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(name.replace("_", "-").encode(), value) for name, value in extra.items()]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def asgi_exchange(app: Any, method: str, path: str, body: bytes = b"", **headers: bytes) -> list[dict[str, Any]]:
    """One request through ``app``: every message it sent back, in order (the request's body
    arrives in one piece; the client then stays connected)."""
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope(method, path, body, **headers), receive, send)
    return sent


def response_body(sent: list[dict[str, Any]]) -> bytes:
    return b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
