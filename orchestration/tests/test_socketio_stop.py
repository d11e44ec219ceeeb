"""``socketio_stop`` against the real python-engineio server, through its ASGI application.

What the clients are sent is what decides whether they reconnect (python-socketio's client never
does after an Engine.IO CLOSE packet), so these tests read the bytes and the close codes the
application hands the ASGI server. The whole stop, with real hub processes and the real clients of
both libraries, is in ``tests/test_socketio_stop.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from engineio.async_drivers.asgi import ASGIApp  # type: ignore[import-untyped]

from orchestration.socketio_direct import DirectEngineIOServer
from orchestration.socketio_stop import GOING_AWAY

Message = dict[str, Any]


class Disconnects:
    """The server's ``disconnect`` handler: every reason it was called with."""

    def __init__(self, server: DirectEngineIOServer) -> None:
        self.reasons: list[str] = []
        server.on("disconnect", self.record)

    async def record(self, sid: str, reason: str) -> None:
        self.reasons.append(reason)


def new_server() -> DirectEngineIOServer:
    return DirectEngineIOServer(async_mode="asgi", cors_allowed_origins=[])


async def http(app: ASGIApp, method: str, query: str, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP request to the application; its status and body."""
    sent: list[Message] = []
    scope = {
        "type": "http",
        "method": method,
        "path": "/engine.io/",
        "query_string": f"EIO=4&transport=polling{query}".encode(),
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


async def polling_session(app: ASGIApp) -> str:
    status, body = await http(app, "GET", "")
    assert status == 200, body
    return str(json.loads(body.decode()[1:])["sid"])


async def pending_poll(app: ASGIApp, sid: str) -> asyncio.Task[tuple[int, bytes]]:
    """A long-poll GET, waiting for the session's next packets."""
    poll = asyncio.ensure_future(http(app, "GET", f"&sid={sid}"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not poll.done()
    return poll


class WebSocketClient:
    """A client that opened its Engine.IO session over WebSocket; what the application sent it."""

    def __init__(self, app: ASGIApp) -> None:
        self.incoming: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self.stalled: asyncio.Event | None = None
        self.transport = self  # what ``DirectWebSocket.abort`` reaches through the bound ``send``
        self.aborted = False
        self.incoming.put_nowait({"type": "websocket.connect"})
        scope = {
            "type": "websocket",
            "path": "/engine.io/",
            "query_string": b"EIO=4&transport=websocket",
            "headers": [(b"host", b"testserver"), (b"connection", b"Upgrade"), (b"upgrade", b"websocket")],
        }
        self.app = asyncio.ensure_future(app(scope, self.incoming.get, self.send))

    async def send(self, message: Message) -> None:
        if self.stalled is not None and message["type"] == "websocket.close":
            await self.stalled.wait()  # as uvicorn's send waits while the client reads nothing
        self.sent.append(message)
        if message["type"] == "websocket.close":
            self.incoming.put_nowait({"type": "websocket.disconnect", "code": message.get("code", 1000)})

    def abort(self) -> None:
        """The transport's abort: the connection is lost, and a send waiting for it ends."""
        self.aborted = True
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1006})
        if self.stalled is not None:
            self.stalled.set()

    async def opened(self) -> None:
        while not any(message.get("text", "").startswith("0{") for message in self.sent):
            await asyncio.sleep(0)


async def test_a_pending_long_poll_ends_with_a_noop_at_the_stop_and_no_close_packet_is_sent() -> None:
    server = new_server()
    disconnects = Disconnects(server)
    app = ASGIApp(server)
    sid = await polling_session(app)
    poll = await pending_poll(app, sid)

    await asyncio.wait_for(server.stop(timeout=1), 1)

    assert await asyncio.wait_for(poll, 1) == (200, b"6")  # NOOP: not "1", Engine.IO's CLOSE
    assert disconnects.reasons == [server.reason.SERVER_DISCONNECT]
    assert server.sockets == {}


async def test_a_stopping_server_answers_every_request_with_503_so_clients_try_again_later() -> None:
    server = new_server()
    app = ASGIApp(server)
    sid = await polling_session(app)
    await server.stop(timeout=1)

    status, _ = await http(app, "GET", f"&sid={sid}")
    assert status == 503
    status, _ = await http(app, "GET", "")  # a client reconnecting before the hub's socket closes
    assert status == 503


async def test_a_websocket_client_is_closed_with_going_away_at_the_stop() -> None:
    server = new_server()
    disconnects = Disconnects(server)
    client = WebSocketClient(ASGIApp(server))
    await asyncio.wait_for(client.opened(), 1)

    await server.stop(timeout=1)
    await asyncio.wait_for(client.app, 1)

    closes = [message for message in client.sent if message["type"] == "websocket.close"]
    assert closes[0]["code"] == GOING_AWAY
    assert not [message for message in client.sent if message.get("text") == "1"]  # no CLOSE packet
    assert disconnects.reasons == [server.reason.SERVER_DISCONNECT]


async def test_the_pending_long_poll_of_a_client_that_sends_close_ends_at_once() -> None:
    """python-engineio leaves it waiting for the next ping (25 s and more): python-socketio's
    client's ``disconnect()`` waited that long, and so did a stopping hub whose service task had
    already dropped the closed session."""
    server = new_server()
    app = ASGIApp(server)
    sid = await polling_session(app)
    poll = await pending_poll(app, sid)

    assert await http(app, "POST", f"&sid={sid}", b"1") == (200, b"OK")

    assert await asyncio.wait_for(poll, 1) == (200, b"6")


async def test_a_websocket_client_that_reads_nothing_is_dropped_and_holds_up_no_other_client() -> None:
    """Its close would wait for ever (uvicorn's send waits until the client reads), and so would
    the server's stop: its connection is aborted when the stop's time is up."""
    server = new_server()
    app = ASGIApp(server)
    stalled = WebSocketClient(app)
    await asyncio.wait_for(stalled.opened(), 1)
    stalled.stalled = asyncio.Event()
    reading = WebSocketClient(app)
    await asyncio.wait_for(reading.opened(), 1)
    sid = await polling_session(app)
    poll = await pending_poll(app, sid)

    await asyncio.wait_for(server.stop(timeout=0.2), 1)

    assert stalled.aborted and not reading.aborted
    assert next(message for message in reading.sent if message["type"] == "websocket.close")["code"] == GOING_AWAY
    assert await asyncio.wait_for(poll, 1) == (200, b"6")
    assert server.sockets == {}
    await asyncio.wait_for(asyncio.gather(stalled.app, reading.app), 1)
