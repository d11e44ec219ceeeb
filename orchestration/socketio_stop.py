"""How a stopping hub lets go of its Socket.IO clients: at the transport, so that they come back.

A client reads the way its connection ends. python-engineio's server, asked to disconnect
(``AsyncServer.disconnect``), sends each client an Engine.IO CLOSE packet: python-socketio's
client (5.x) takes that as "the server disconnected me" and never reconnects (socket.io-client
reads it as its transport closing, and does). A connection that just ends (a
WebSocket closed with 1001 "going away", a long-poll whose next request fails) is what both
clients read as a lost connection, and both reconnect, with their backoff, until the hub answers
again.

So ``StoppableEngineIOServer.stop`` sends no CLOSE packet:

- a WebSocket client gets close code 1001. One that reads nothing (its buffers full) cannot be
  sent even that: the close would wait for ever, and the server's stop with it (uvicorn cancels
  the request at its graceful-stop limit, python-engineio swallows the cancellation and waits on).
  Its connection is dropped when the stop's time is up;
- a long-polling client's pending GET (it always has one, answered at the latest by the next
  ping, 25 s later) is answered now with a NOOP packet, the packet Engine.IO itself ends a poll
  with when a client upgrades. Its next request gets 503, or no connection once the server has
  closed its socket; either is a transport error, and the client reconnects. Without this the
  server's graceful stop waited for that GET, and cancelled it after 10 s: so did a GET left by a
  client that had just disconnected (the library answers a client's CLOSE without ending its
  pending poll) or whose connection was gone;
- every request from then on, a new client's handshake included, gets 503: a client that tries
  again before the hub's socket closes is not given a session that would then be dropped;
- then each Engine.IO session is closed without a packet (the Socket.IO disconnect handlers run,
  so subscribers leave their groups) and the server's service task ends
  (``AsyncServer.shutdown``, which python-socketio's documentation says to call before the web
  server stops). A socket's ping task sees the closed socket when it wakes and sends nothing.

Outside a stop too, a polling client's CLOSE packet now ends its pending GET at once (with a
NOOP): the library closes the session but leaves that GET waiting up to 45 s, which held
python-socketio's ``Client.disconnect()`` that long.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

import engineio  # type: ignore[import-untyped]
from engineio import packet as engineio_packet

from orchestra_site.realtime.sending import start_send

logger = logging.getLogger("orchestra.socketio")

# What a WebSocket client is told as the hub stops (RFC 6455: the server is going away).
GOING_AWAY = 1001
STOPPING_REASON = "The hub is stopping; connect again when it is back."
SERVICE_UNAVAILABLE = {
    "status": "503 SERVICE UNAVAILABLE",
    "headers": [("Content-Type", "text/plain"), ("Retry-After", "1")],
    "response": b'"The hub is stopping."',
}


class StoppableEngineIOServer(engineio.AsyncServer):
    """python-engineio's server (ASGI) with a stop that ends transports, not sessions, first."""

    stopping = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Sockets with a long-poll GET in progress. Not only ``self.sockets``: the service task
        # drops a socket the client closed while that client's last GET still waits.
        self.polled: set[Any] = set()

    async def handle_request(self, scope: Any, receive: Any, send: Any) -> Any:
        if self.stopping:
            environ = await self._async["translate_request"](scope, receive, send)
            return await self._make_response(dict(SERVICE_UNAVAILABLE), environ)
        socket = self.socket_of(scope)
        if socket is None:
            return await super().handle_request(scope, receive, send)
        if scope["method"] != "GET":
            answer = await super().handle_request(scope, receive, send)
            if socket.closed and socket in self.polled:
                # The client's CLOSE packet: the library closes the socket but leaves the
                # client's pending GET waiting (up to 45 s). It ends now, as at a stop.
                await transport_end(socket)
            return answer
        self.polled.add(socket)
        try:
            return await super().handle_request(scope, receive, send)
        finally:
            self.polled.discard(socket)

    def socket_of(self, scope: Any) -> Any:
        """The socket a polling request (HTTP, with ``sid``) is for."""
        if scope["type"] != "http":
            return None
        sid = parse_qs(scope.get("query_string", b"").decode("latin1")).get("sid")
        return self.sockets.get(sid[0]) if sid else None

    async def stop(self, timeout: float) -> None:
        """End every client's transport at once, then close the sessions within ``timeout``.

        No client holds the stop up. A WebSocket close that has to wait (the client reads
        nothing, and its buffers are full) finishes in a task; if it has not when ``timeout``
        runs out, that client's connection is dropped: it would never be flushed, so never
        closed, and the server's stop would wait for it without end. The disconnect handlers get
        ``timeout`` too (a channel layer that no longer answers)."""
        self.stopping = True
        sockets = list(self.sockets.values())
        closing: dict[Any, asyncio.Task[None]] = {}  # WebSocket: its close, still waiting
        for socket in {*sockets, *self.polled}:
            websocket = getattr(socket.queue, "websocket", None)
            task = start_send(transport_end(socket))  # only a WebSocket's close may have to wait
            if task is not None and websocket is not None:
                closing[websocket] = task
        try:  # on time out, what is left is cancelled
            await asyncio.wait_for(
                asyncio.gather(self.sessions_close(sockets), *closing.values(), return_exceptions=True), timeout
            )
        except TimeoutError:
            stuck = [websocket for websocket, task in closing.items() if task.cancelled()]
            for websocket in stuck:
                websocket.abort()
            logger.warning(
                "Socket.IO clients not let go within %.1f s of the stop (%d dropped: they read nothing)",
                timeout,
                len(stuck),
            )

    async def sessions_close(self, sockets: list[Any]) -> None:
        for socket in sockets:
            # abort: no CLOSE packet, which python-socketio's client would take as final.
            await socket.close(wait=False, abort=True, reason=self.reason.SERVER_DISCONNECT)
        self.sockets: dict[str, Any] = {}
        await self.shutdown()


async def transport_end(socket: Any) -> None:
    """Close a WebSocket with 1001; answer a pending long-poll with a NOOP (harmless if none)."""
    websocket = getattr(socket.queue, "websocket", None)
    if websocket is not None:
        await websocket.going_away(code=GOING_AWAY, reason=STOPPING_REASON)
    if not socket.upgraded:
        socket.queue.put_nowait(engineio_packet.Packet(engineio_packet.NOOP))
