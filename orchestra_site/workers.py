"""``serve --workers N``: N worker processes answer HTTP and WebSockets on one port.

The parent binds one listening socket per worker, all on the port (``SO_REUSEPORT``: the kernel
spreads new connections over them), and starts each worker with ``serve --worker-fd FD``, which
serves its inherited socket. The parent keeps the sockets open, so a worker's replacement serves
the same socket, connections waiting in its queue included. (One shared socket spread connections
badly: the server's accept loop takes every waiting connection at once, so a burst of clients
landed on one worker.) The parent itself answers no request: it runs what a hub does once (the heartbeat, the prune, the
runner, the outbox relay), restarts a worker that dies and, on SIGTERM or SIGINT, stops them all.

Events: a worker delivers its own events to its own sockets as a one-process hub does. With Redis
every worker's ``EventHub`` is in the Redis groups, so nothing more is needed. With the in-memory
layer the parent is the hub's only outbox reader: it sends every new row, in id order, to every
worker over the worker's stdin, one JSON line per row; a worker fans out the rows another process
wrote and skips its own. A worker also stops when its stdin ends (the parent is gone).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable

from django.conf import settings

from orchestra_site.asgi_server import LISTEN_BACKLOG
from orchestra_site.realtime.events import PROCESS_ID, bind_event_loop
from orchestra_site.realtime.relay import OutboxRow

logger = logging.getLogger("orchestra.serve")

# A relayed row is one line; log batches can be long, the default limit of 64 KiB is not enough.
LINE_LIMIT = 64 * 1024 * 1024
# Bytes of relayed rows a worker may have unread before it counts as stuck.
BACKLOG_LIMIT = 64 * 1024 * 1024
# This many worker exits within CRASH_WINDOW seconds stop the hub instead of starting another.
CRASH_LIMIT = 5
CRASH_WINDOW = 60.0


def listen(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on ``host:port``, inheritable by the workers (one for a
    one-process hub, bound the same way).

    IPv4 unless the host is an IPv6 address, as daphne bound it (``localhost`` is 127.0.0.1, where
    loopback trust expects its clients). The port is first checked free with a plain socket:
    another hub (or anything else) already there is an error, not a process sharing its connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(host or None, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise OSError(error.strerror) from None
    address = infos[0][4]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
            sock.set_inheritable(count > 1)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Worker:
    def __init__(self, process: asyncio.subprocess.Process, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock
        self.broken = False

    @property
    def pid(self) -> int:
        return self.process.pid


class WorkerPool:
    """The parent's side: start, forward outbox rows to, watch and stop the workers."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        self.sockets = sockets
        self.workers: list[Worker] = []
        self.exits: collections.deque[float] = collections.deque()

    def worker_command(self, fd: int) -> list[str]:
        return [sys.executable, str(settings.BASE_DIR / "manage.py"), "serve", "--worker-fd", str(fd)]

    async def start_one(self, sock: socket.socket) -> Worker:
        fd = sock.fileno()
        # Its own process group: Ctrl-C reaches the parent only, which then stops the workers in order.
        process = await asyncio.create_subprocess_exec(
            *self.worker_command(fd), stdin=asyncio.subprocess.PIPE, pass_fds=(fd,), process_group=0
        )
        worker = Worker(process, sock)
        self.workers.append(worker)
        return worker

    async def start(self) -> None:
        for sock in self.sockets:
            await self.start_one(sock)

    async def forward(self, rows: list[OutboxRow]) -> None:
        """Send outbox rows to every worker, in order, without waiting for any of them: a worker
        still starting reads them when it is up. One that falls ``BACKLOG_LIMIT`` behind is stuck:
        it is killed, and replaced like any worker that exits."""
        payload = b"".join(
            json.dumps([origin, group, text, version], separators=(",", ":")).encode() + b"\n"
            for _row_id, origin, group, text, version in rows
        )
        for worker in self.workers:
            stdin = worker.process.stdin
            if worker.broken or stdin is None or stdin.is_closing():
                continue
            stdin.write(payload)
            if stdin.transport.get_write_buffer_size() > BACKLOG_LIMIT:
                logger.warning("hub worker %d is not reading its events; killing it", worker.pid)
                worker.broken = True
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()

    async def watch(self, stop: asyncio.Event) -> str | None:
        """Restart workers that exit until ``stop`` is set; a message when they keep exiting."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                waits = {asyncio.ensure_future(worker.process.wait()): worker for worker in self.workers}
                done, _ = await asyncio.wait({stopped, *waits}, return_when=asyncio.FIRST_COMPLETED)
                for future in waits:
                    if future not in done:
                        future.cancel()
                if stop.is_set():
                    return None
                for future in done - {stopped}:
                    worker = waits[future]
                    self.workers.remove(worker)
                    code = worker.process.returncode
                    now = time.monotonic()
                    self.exits.append(now)
                    while self.exits and self.exits[0] < now - CRASH_WINDOW:
                        self.exits.popleft()
                    if len(self.exits) >= CRASH_LIMIT:
                        return (
                            f"hub workers keep exiting ({len(self.exits)} in {CRASH_WINDOW:.0f}s, the last with "
                            f"code {code}); stopping the hub"
                        )
                    replacement = await self.start_one(worker.sock)
                    logger.warning(
                        "hub worker %d exited with code %s; started worker %d", worker.pid, code, replacement.pid
                    )
            return None
        finally:
            stopped.cancel()

    async def stop(self, timeout: float) -> None:
        """SIGTERM every worker (each closes its connections), SIGKILL those still there after ``timeout``."""
        for worker in self.workers:
            if worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        waits = [asyncio.ensure_future(worker.process.wait()) for worker in self.workers]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=timeout)
            for worker in self.workers:
                if worker.process.returncode is None:
                    logger.warning("hub worker %d did not stop within %.0fs; killing it", worker.pid, timeout)
                    with contextlib.suppress(ProcessLookupError):
                        worker.process.kill()
            if pending:
                await asyncio.wait(pending)
        for worker in self.workers:  # only now: a worker whose stdin ends first thinks the parent died
            if worker.process.stdin is not None:
                worker.process.stdin.close()


async def relay_from_parent(on_eof: Callable[[], None]) -> None:
    """A worker's side of the relay: fan out the rows the parent sends on stdin, until it ends."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    hub = bind_event_loop(loop)
    while line := await reader.readline():
        try:
            origin, group, text, version = json.loads(line)
        except ValueError:
            logger.exception("ignoring a line from the hub's parent process that is not a relayed row")
            continue
        if origin != PROCESS_ID:
            await hub.fan_out(group, [(text, version)])
    on_eof()
