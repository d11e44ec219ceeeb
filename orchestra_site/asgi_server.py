"""The ASGI server of ``manage.py serve``: uvicorn, with httptools and uvloop, on a socket ``serve`` binds.

uvicorn replaced daphne in ``serve`` because it answers this hub's requests faster on the same
benchmark (README, "What runs where"; ``runserver`` keeps daphne). ``serve`` owns the process:
it binds the socket (so a busy port is one clear error, and ``--workers N`` hands each worker one),
handles SIGTERM and SIGINT itself and stops its background work before the server closes its
connections; uvicorn only serves.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable, Generator

import uvicorn
from channels.routing import get_default_application
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

# Each worker's listening queue. 10 000 clients connecting at once (a restart) must all get
# through; the kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 16384
# What daphne did: a WebSocket message over 1 MiB is refused with close code 1009 and a reason.
WEBSOCKET_MAX_MESSAGE = 1024 * 1024
# A client that answers no ping for this long is gone (daphne pinged every 20 s and waited 30 s).
WEBSOCKET_PING_INTERVAL = 20.0
WEBSOCKET_PING_TIMEOUT = 30.0
# How long connections may take to close once background work has stopped: a request still
# running then is cancelled rather than holding the hub up.
GRACEFUL_SHUTDOWN_SECONDS = 10
# Idle keep-alive HTTP connections are closed after this (clients then open a new one).
KEEP_ALIVE_SECONDS = 75


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol on websockets' sans-I/O core (the implementation measured
    fastest and leanest here: README, "What runs where"), with one change: a message over the
    limit is answered with close 1009 and a reason that reach the client.

    uvicorn closes the TCP connection right after that close frame; a client still sending its
    large message then gets a reset, which discards the close frame before it reads it. Here the
    server half-closes instead, and drops what the client still sends until it closes too (at most
    ``close_timeout``), as daphne did.
    """

    def handle_parser_exception(self) -> None:
        assert self.conn.close_sent is not None
        close = self.conn.close_sent
        self.queue.put_nowait({"type": "websocket.disconnect", "code": close.code, "reason": close.reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self.close_sent and self.conn.parser_exc is not None:
            return  # the rest of a refused message: dropped until the client closes
        super().data_received(data)


def server_config(application: Callable[..., Awaitable[None]] | None = None) -> uvicorn.Config:
    """The hub's uvicorn settings, around its own application unless another is given."""
    return uvicorn.Config(
        application or get_default_application(),
        loop="uvloop",  # the event loop of the whole process, background work included
        http="httptools",  # the C HTTP parser (uvicorn's other one, h11, is pure Python)
        ws=WebSocketProtocol,
        interface="asgi3",
        # Channels' router answers no lifespan messages; "auto" would try and log that it failed.
        lifespan="off",
        # daphne had none either: a log line per request costs every request and tells the hub nothing.
        access_log=False,
        # uvicorn trusts X-Forwarded-For/-Proto from 127.0.0.1 by default: any local process could
        # then rewrite the client address and scheme that loopback trust and the Host/Origin checks
        # read. The hub is reached directly (or through an SSH tunnel), never through a proxy.
        proxy_headers=False,
        server_header=False,
        log_config=None,  # Django's LOGGING configures the ``uvicorn`` loggers
        backlog=LISTEN_BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ws_max_size=WEBSOCKET_MAX_MESSAGE,
        ws_ping_interval=WEBSOCKET_PING_INTERVAL,
        ws_ping_timeout=WEBSOCKET_PING_TIMEOUT,
        # As daphne: no per-message compression. Its zlib state would cost tens of KiB more per
        # socket, and each fanned-out frame would be compressed once per socket.
        ws_per_message_deflate=False,
    )


class HubServer(uvicorn.Server):
    """uvicorn's server, minus its signal handling, telling ``serve`` when it listens."""

    def __init__(self, config: uvicorn.Config, ready: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.ready = ready

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # ``serve`` handles SIGTERM and SIGINT: its background work stops first, then it sets
        # ``should_exit``. uvicorn's own handlers would close the connections at once and, after
        # its shutdown, raise the signal again, killing the process before its cleanup.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.ready is not None:
            self.ready()
