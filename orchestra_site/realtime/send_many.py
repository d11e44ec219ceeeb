"""Several WebSocket text frames to one client in one write: an ASGI extension of ``serve``'s server.

It replaces one ASGI send, one transport write and one ``send()`` system call per frame per
socket. When PUTs come faster than the event loop fans them out, the hub drains every frame that
is waiting (``EventHub.send_loop``) and hands each socket all of its frames at once; with this
extension they leave in one transport write, in order, every frame whole (nothing is merged or
skipped: each client still gets every change). The cost it attacks: with 200 sockets listening,
PUT desired fell from 593 to 218 requests a second and its p99 rose from 62 to 159 ms
(docs/benchmarks.md, section 10, 03:56 UTC run, before this change).

The server says it offers this in the connection's scope (``scope["extensions"][SEND_MANY]``),
as ASGI extensions do; a consumer under another server (``runserver``'s daphne, the tests'
communicator) sends frame by frame (``HubConsumer.send_texts``).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

SEND_MANY = "orchestra.websocket.send_many"  # the extension's name and its message type: {"texts": [...]}


class SendManyProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, taking ``{"type": SEND_MANY, "texts": [...]}`` too."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][SEND_MANY] = {}  # the application's task has not run yet

    async def send(self, message: Any) -> None:
        if message["type"] != SEND_MANY:
            await super().send(message)
            return
        await self.writable.wait()  # the transport's flow control, as for one frame
        if self.disconnected:
            raise ClientDisconnected()
        if not self.handshake_complete or self.close_sent or self.initial_response is not None:
            for text in message["texts"]:  # uvicorn says what is wrong with sending now
                await super().send({"type": "websocket.send", "text": text})
            return
        try:
            for text in message["texts"]:
                self.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(self.conn.data_to_send()))
