"""The ASGI server of ``manage.py serve``: uvicorn, with httptools and uvloop, on a socket ``serve`` binds.

uvicorn replaced daphne in ``serve`` because it answers this hub's requests faster on the same
benchmark (README, "What runs where"; ``runserver`` keeps daphne). ``serve`` owns the process:
it binds the socket (so a busy port is one clear error, and ``--workers N`` hands each worker one),
handles SIGTERM and SIGINT itself and stops its background work before the server closes its
connections; uvicorn only serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import resource
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Generator

import uvicorn
from channels.routing import get_default_application
from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orchestra_site.realtime.send_many import SendManyProtocol

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
# Open files kept for everything but connections (the database, logs, agents' pipes) when
# ``ORCHESTRA_MAX_CONNECTIONS`` is sized from the open-file limit: a tenth of it, at least 256.
RESERVED_FILES_MIN = 256


class WebSocketProtocol(SendManyProtocol):
    """uvicorn's WebSocket protocol on websockets' sans-I/O core (the implementation measured
    fastest and leanest here: README, "What runs where"), taking several frames in one write
    (``orchestra_site.realtime.send_many``), and with one change: a message over the limit is
    answered with close 1009 and a reason that reach the client.

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

    # Set by ``HttpProtocol`` when it hands its connection over: the socket stays counted in the
    # ``ConnectionTable`` until the WebSocket ends.
    release_connection: Callable[[], None] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.release_connection is not None:
            self.release_connection()
            self.release_connection = None


def open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit (each connection is one file)
    and return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_cap(*, configured: int, file_limit: int) -> int:
    """``ORCHESTRA_MAX_CONNECTIONS``, or (0) what the open-file limit leaves once the process's
    own files are reserved: a connection over the limit would fail ``accept`` for everyone."""
    room = file_limit - max(RESERVED_FILES_MIN, file_limit // 10)
    if configured:
        return min(configured, max(room, 1))
    return max(room, 1)


def is_loopback_address(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a Unix socket, or no address at all


class ConnectionTable:
    """This process's open connections, in total and by client address, and those that owe a
    request (connected, or idle between keep-alive requests), oldest first.

    Loopback clients are held to the total only: everyone who comes through the SSH tunnel shares
    127.0.0.1, so a cap per address there would be a second total cap.

    A new connection over a cap takes the place of the oldest connection that owes a request (of
    the same client for the per-client cap): connected but silent, half-sent (headers or body) or
    idle between requests. Those are what a flood is made of and the cheapest to drop, so the hub
    keeps answering a client that sends a request.
    When every connection is busy, the new one is closed instead.
    """

    def __init__(self, *, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.count = 0
        self.by_client: Counter[str] = Counter()
        self.waiting: dict[HttpProtocol, None] = {}
        self.waiting_by_client: dict[str, dict[HttpProtocol, None]] = {}

    def admit(self, protocol: HttpProtocol) -> bool:
        address = protocol.client_address
        if self.per_client and not is_loopback_address(address) and self.by_client[address] >= self.per_client:
            if not self.evict(self.waiting_by_client.get(address, {})):
                return False
        if self.total and self.count >= self.total:
            if not self.evict(self.waiting):
                return False
        self.count += 1
        self.by_client[address] += 1
        return True

    def release(self, protocol: HttpProtocol) -> None:
        self.mark_busy(protocol)
        self.count -= 1
        self.by_client[protocol.client_address] -= 1
        if self.by_client[protocol.client_address] <= 0:
            del self.by_client[protocol.client_address]

    def evict(self, candidates: dict[HttpProtocol, None]) -> bool:
        oldest = next(iter(candidates), None)
        if oldest is None:
            return False
        oldest.drop()
        return True

    def mark_waiting(self, protocol: HttpProtocol) -> None:
        self.waiting[protocol] = None
        self.waiting_by_client.setdefault(protocol.client_address, {})[protocol] = None

    def mark_busy(self, protocol: HttpProtocol) -> None:
        self.waiting.pop(protocol, None)
        of_client = self.waiting_by_client.get(protocol.client_address)
        if of_client is not None:
            of_client.pop(protocol, None)
            if not of_client:
                del self.waiting_by_client[protocol.client_address]


class HubConfig(uvicorn.Config):
    """uvicorn's config, carrying this server's ``ConnectionTable`` and header timeout."""

    connection_table: ConnectionTable | None = None
    header_timeout: float = 10.0


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with what it lacks against a flood of connections: a
    header-read timeout (a connection that has not sent a request's complete headers within
    ``ORCHESTRA_HEADER_TIMEOUT`` of connecting, or of starting its next request, is closed) and
    the caps of ``ConnectionTable``. uvicorn's keep-alive timeout still closes idle connections.
    """

    client_address = ""
    counted = False
    header_timer: asyncio.TimerHandle | None = None

    @property
    def table(self) -> ConnectionTable | None:
        return getattr(self.config, "connection_table", None)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.client_address = self.client[0] if self.client else ""
        table = self.table
        if table is not None:
            if not table.admit(self):
                self.transport.abort()  # over the caps with every connection busy
                return
            self.counted = True
            table.mark_waiting(self)
        self.start_header_timer()

    def start_header_timer(self) -> None:
        if self.header_timer is None:
            timeout = getattr(self.config, "header_timeout", None)
            if timeout:
                self.header_timer = self.loop.call_later(timeout, self.header_timeout_expired)

    def stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def header_timeout_expired(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def drop(self) -> None:
        """Closed to make room: it owes a request, so no answer is cut short."""
        self.release()
        self.stop_header_timer()
        self.transport.close()

    def release(self) -> None:
        if self.counted and self.table is not None:
            self.counted = False
            self.table.release(self)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.start_header_timer()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self.stop_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        # Only a request received whole is work in progress: one still trickling its body in is as
        # cheap to drop as a half-sent one (Django then sees a disconnect and drops the request).
        if self.counted and self.table is not None:
            self.table.mark_busy(self)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.counted and self.table is not None and not self.transport.is_closing() and not self.pipeline:
            self.table.mark_waiting(self)  # idle until its next request or the keep-alive timeout

    def handle_websocket_upgrade(self) -> None:
        self.stop_header_timer()
        if self.counted and self.table is not None:
            self.table.mark_busy(self)
        super().handle_websocket_upgrade()
        websocket = self.transport.get_protocol()
        if self.counted and isinstance(websocket, WebSocketProtocol):
            websocket.release_connection = self.release  # counted until the WebSocket ends
        else:
            self.release()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_header_timer()
        self.release()
        super().connection_lost(exc)


def server_config(application: Callable[..., Awaitable[None]] | None = None) -> uvicorn.Config:
    """The hub's uvicorn settings, around its own application unless another is given."""
    config = HubConfig(
        application or get_default_application(),
        loop="uvloop",  # the event loop of the whole process, background work included
        # The C HTTP parser (uvicorn's other one, h11, is pure Python), with a header timeout and caps.
        http=HttpProtocol,
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
    config.header_timeout = settings.HEADER_TIMEOUT
    config.connection_table = ConnectionTable(
        total=connection_cap(configured=settings.MAX_CONNECTIONS, file_limit=open_file_limit()),
        per_client=settings.MAX_CONNECTIONS_PER_CLIENT,
    )
    return config


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
