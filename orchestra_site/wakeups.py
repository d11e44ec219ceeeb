"""Wake-ups: a loop with nothing to do sleeps until a commit says there may be something.

The runner and the outbox relay used to poll the database (every 0.25 s and 0.1 s: about 5% of a
core for an idle ``serve``). Now each waits on a ``Waiter`` for its topics, and the services that
commit rows needing attention call ``wake_on_commit(topic)``:

- ``WORK``: new step runs, a queued run, a DAG run, a cancel (``agents.wakeup``);
- ``CAPACITY``: a slot freed, ``desired`` raised, a reported ``running`` lowered (``orchestration``);
- ``OUTBOX``: outbox rows other processes must relay (``orchestra_site.realtime.events``).

A wake-up reaches the waiters of this process at once (when asked) and every hub process on the
same database through it: PostgreSQL ``NOTIFY`` (each process ``LISTEN``s on a connection of its
own; a thread sends, so no request waits for it), or on SQLite, whose processes share one machine,
a datagram to each process's UNIX socket in a private folder named after the database file.
``OUTBOX`` wake-ups skip their own process (it delivered its frames itself).

A lost wake-up (a process that exits right after its commit, a dropped connection) only delays
work: every waiter also wakes after ``ORCHESTRA_WAKEUP_TIMEOUT``, and a listener that reconnects
wakes its waiters once, for whatever it missed while away.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import hashlib
import logging
import os
import select
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from orchestra_site.outages import Outage, backoff

logger = logging.getLogger(__name__)

WORK = "work"
CAPACITY = "capacity"
OUTBOX = "outbox"
TOPICS = (WORK, CAPACITY, OUTBOX)
# Topics whose wake-ups a process never sends itself through the database.
NOT_TO_SELF = {OUTBOX}
CHANNEL_PREFIX = "orchestra_"
PROCESS_ID = uuid.uuid4().hex
# How often a PostgreSQL listener looks whether it should stop, if its stop notification is lost.
LISTEN_SLICE = 30.0


class Waiter:
    """One loop's wake-ups: which of its topics woke it since it last looked."""

    def __init__(self, topics: tuple[str, ...]) -> None:
        self.topics = topics
        self.woken: set[str] = set()
        self.condition = threading.Condition()
        self.callbacks: list[Callable[[], None]] = []

    def wake(self, topic: str) -> None:
        with self.condition:
            self.woken.add(topic)
            self.condition.notify_all()
            callbacks = list(self.callbacks)
        for callback in callbacks:
            callback()

    def wait(self, timeout: float) -> set[str]:
        """Block until woken or ``timeout`` seconds pass; the topics that woke it (empty: timed out)."""
        with self.condition:
            self.condition.wait_for(lambda: bool(self.woken), timeout=max(timeout, 0.0))
            woken, self.woken = self.woken, set()
        return woken

    async def wait_async(self, timeout: float, stop: asyncio.Event) -> set[str]:
        """The same on an event loop; also returns (empty) when ``stop`` is set."""
        loop = asyncio.get_running_loop()
        arrived = asyncio.Event()

        def on_wake() -> None:
            loop.call_soon_threadsafe(arrived.set)

        with self.condition:
            self.callbacks.append(on_wake)
            if self.woken:
                arrived.set()
        try:
            waits = {asyncio.ensure_future(arrived.wait()), asyncio.ensure_future(stop.wait())}
            _, pending = await asyncio.wait(waits, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED)
            for future in pending:
                future.cancel()
        finally:
            with self.condition:
                self.callbacks.remove(on_wake)
        with self.condition:
            woken, self.woken = self.woken, set()
        return woken


_lock = threading.Lock()
_waiters: set[Waiter] = set()
_listener: _Listener | None = None


@contextlib.contextmanager
def listening(*topics: str) -> Iterator[Waiter]:
    """A waiter for ``topics`` while the block runs; this process listens to the database meanwhile."""
    global _listener
    waiter = Waiter(topics)
    with _lock:
        _waiters.add(waiter)
        if _listener is None:
            _listener = _listener_for_database()
            _listener.start()
    try:
        yield waiter
    finally:
        with _lock:
            _waiters.discard(waiter)
            stopping = _listener if not _waiters else None
            if stopping is not None:
                _listener = None
        if stopping is not None:
            stopping.stop()


def wake_here(topic: str) -> None:
    """Wake this process's waiters of ``topic`` now."""
    with _lock:
        waiters = [waiter for waiter in _waiters if topic in waiter.topics]
    for waiter in waiters:
        waiter.wake(topic)


def wake(topic: str, *, here_at_once: bool = True) -> None:
    """Wake every hub process's waiters of ``topic``: this one's at once (unless told not to, so
    that its runner races its peers on equal terms), the others' through the database."""
    if here_at_once:
        wake_here(topic)
    try:
        _sender_for_database().send(topic)
    except Exception:  # a lost wake-up only delays: the waiters' timeout covers it
        logger.debug("could not send the %s wake-up", topic, exc_info=True)


def wake_on_commit(topic: str, *, here_at_once: bool = True) -> None:
    """``wake(topic)`` once the current transaction commits (at once outside one); never on rollback."""
    transaction.on_commit(lambda: wake(topic, here_at_once=here_at_once))


def _received(topic: str, sender: str) -> None:
    if topic in TOPICS and not (topic in NOT_TO_SELF and sender == PROCESS_ID):
        wake_here(topic)


def _wake_all_here() -> None:
    for topic in TOPICS:
        wake_here(topic)


# --- Between processes ----------------------------------------------------------------------------


def _is_postgresql() -> bool:
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


class _Listener(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="wakeup-listener", daemon=True)
        self.halt = threading.Event()

    def stop(self) -> None:
        """A listener that could not listen: nothing to stop (its waiters rely on their timeout)."""
        self.halt.set()


class _PostgresListener(_Listener):
    """``LISTEN`` on a connection of its own (outside the pool), reconnecting after an outage."""

    def __init__(self) -> None:
        super().__init__()
        self.params = _postgres_params()
        self.outage = Outage("the wake-up listener")
        self.stop_channel = f"{CHANNEL_PREFIX}stop_{uuid.uuid4().hex}"

    def stop(self) -> None:
        """Stop now (its connection closed, so a test database can be dropped): a notification of
        its own ends its wait."""
        self.halt.set()
        import psycopg

        with contextlib.suppress(Exception), psycopg.connect(**self.params, autocommit=True, connect_timeout=3) as conn:
            conn.execute("SELECT pg_notify(%s, '')", [self.stop_channel])
        self.join(timeout=5)

    def run(self) -> None:
        import psycopg

        failures = 0
        while not self.halt.is_set():
            try:
                with psycopg.connect(**self.params, autocommit=True) as conn:
                    for channel in [*(CHANNEL_PREFIX + topic for topic in TOPICS), self.stop_channel]:
                        conn.execute(f"LISTEN {channel}")
                    if failures:
                        _wake_all_here()  # whatever was sent while this process was not listening
                    failures = 0
                    self.outage.recovered()
                    while not self.halt.is_set():
                        # What libpq has read already, then a wait on the socket itself: psycopg's
                        # own wait would wake ten times a second to stay interruptible.
                        for notify in conn.notifies(timeout=0):
                            _received(notify.channel.removeprefix(CHANNEL_PREFIX), notify.payload)
                        select.select([conn.fileno()], [], [], LISTEN_SLICE)
            except Exception as error:  # the database restarts or is away: listen again when it is back
                failures += 1
                self.outage.failed(error)
                _wake_all_here()
                self.halt.wait(backoff(failures))


def _postgres_params() -> dict[str, Any]:
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    for key in ("pool", "cursor_factory", "context", "prepare_threshold", "server_side_binding"):
        params.pop(key, None)
    return params


class _SocketListener(_Listener):
    """A datagram socket in the database's wake-up folder; senders write to every socket there."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = _socket_folder()
        self.folder.mkdir(mode=0o700, exist_ok=True)  # again: the system may have cleaned its temporary folder
        self.path = self.folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                message = self.sock.recv(256).decode(errors="replace")
                topic, _, sender = message.partition(" ")
                _received(topic, sender)
        finally:
            self.sock.close()
            with contextlib.suppress(OSError):
                self.path.unlink()

    def stop(self) -> None:
        self.halt.set()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
            sock.sendto(b"stop", str(self.path))
        self.join(timeout=2)


def _listener_for_database() -> _Listener:
    try:
        return _PostgresListener() if _is_postgresql() else _SocketListener()
    except OSError as error:  # the socket folder cannot be used: wake-ups from elsewhere only delay
        logger.warning(
            "this process cannot hear other processes' wake-ups (%s); it looks for work every "
            "ORCHESTRA_WAKEUP_TIMEOUT instead",
            error,
        )
        return _Listener()


def _socket_folder() -> Path:
    """A folder private to this user, one per database file (the tests' databases never mix)."""
    return _socket_folder_of(str(connections[DEFAULT_DB_ALIAS].settings_dict["NAME"]))


@functools.lru_cache(maxsize=8)
def _socket_folder_of(database_name: str) -> Path:
    name = str(Path(database_name).resolve())
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    # The system's temporary folder, not the data dir: a socket's path is limited to 107 bytes.
    folder = Path(tempfile.gettempdir()) / f"orchestra-wakeups-{os.getuid()}-{digest}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid():
        raise PermissionError(f"{folder} belongs to another user")
    return folder


class _PostgresSender(threading.Thread):
    """Sends ``NOTIFY`` from a thread of its own, so a request never waits for it; wake-ups asked
    for while it sends go out together after."""

    def __init__(self) -> None:
        super().__init__(name="wakeup-sender", daemon=True)
        self.pending: set[str] = set()
        self.condition = threading.Condition()

    def send(self, topic: str) -> None:
        with self.condition:
            self.pending.add(topic)
            self.condition.notify()

    def run(self) -> None:
        while True:
            with self.condition:
                self.condition.wait_for(lambda: bool(self.pending))
            self.flush()

    def flush(self) -> None:
        with self.condition:
            topics, self.pending = self.pending, set()
        if not topics:
            return
        connection = connections[DEFAULT_DB_ALIAS]
        try:
            with connection.cursor() as cursor:
                for topic in sorted(topics):
                    cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL_PREFIX + topic, PROCESS_ID])
        except Exception:
            logger.debug("could not send wake-ups %s", topics, exc_info=True)
        finally:
            connection.close()  # back to the pool


class _SocketSender:
    def send(self, topic: str) -> None:
        try:
            folder = _socket_folder()
            paths = list(folder.iterdir())
        except OSError:
            return
        message = f"{topic} {PROCESS_ID}".encode()
        if topic in NOT_TO_SELF and isinstance(_listener, _SocketListener):
            paths = [path for path in paths if path != _listener.path]  # it would drop it anyway
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for path in paths:
                try:
                    sock.sendto(message, str(path))
                except (ConnectionRefusedError, FileNotFoundError):
                    with contextlib.suppress(OSError):
                        path.unlink()  # its process is gone
                except OSError:
                    pass  # a full queue: that process has wake-ups waiting already


_sender: _PostgresSender | _SocketSender | None = None


def _sender_for_database() -> _PostgresSender | _SocketSender:
    global _sender
    wanted = _PostgresSender if _is_postgresql() else _SocketSender
    if not isinstance(_sender, wanted):
        with _lock:
            if not isinstance(_sender, wanted):
                sender = wanted()
                if isinstance(sender, _PostgresSender):
                    sender.start()
                    atexit.register(sender.flush)  # a command that exits right after its commit
                _sender = sender
    return _sender
