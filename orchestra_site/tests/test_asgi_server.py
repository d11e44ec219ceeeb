"""The hub's uvicorn settings, on a real socket with a real client: what the server tells the
application about a request is what the connection is, whatever headers the client sends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from orchestra_site.asgi_server import HubServer, server_config
from orchestra_site.workers import listen


async def scope_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An application that answers with the client address and scheme it was given."""
    body = json.dumps({"client": scope["client"][0], "scheme": scope["scheme"]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def get(port: int, headers: dict[str, str]) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
    writer.write(("".join(lines) + "\r\n").encode())
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return json.loads(body)


async def test_forwarded_headers_from_loopback_change_neither_the_client_nor_the_scheme() -> None:
    """uvicorn would trust X-Forwarded-For/-Proto from 127.0.0.1 by default: a local process could
    then pass for another client, or for HTTPS, to the loopback trust and the Host/Origin checks."""
    [sock] = listen("127.0.0.1", 0, 1)
    port = sock.getsockname()[1]
    started = asyncio.Event()
    server = HubServer(server_config(scope_echo), ready=started.set)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(started.wait(), 10)
        forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "Forwarded": "for=203.0.113.9"}
        assert await get(port, forwarded) == {"client": "127.0.0.1", "scheme": "http"}
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)
