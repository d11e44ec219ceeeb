"""Django's SQLite backend, with the hub's writers queued for the write lock instead of polling it.

SQLite has one write lock per database. A writer that finds it taken sleeps in SQLite's busy
handler, which polls with sleeps growing from 1 ms to 100 ms (up to the 30 s ``timeout``): a
writer that misses the lock a few times in a row under load keeps sleeping long after it was
freed, and that was the 1.4 to 1.6 s tail of the 16-client latency bench (docs/benchmarks.md,
section 8), with the median at 25 to 50 ms.

Here each write transaction of this process first takes a lock of the process for its database
file (a ``threading.Lock``, which wakes the next waiter as soon as it is released), then runs
``BEGIN IMMEDIATE``, and gives the lock back when it commits, rolls back or closes. A write outside
any transaction (an autocommit ``UPDATE``) takes it around its one statement. So the hub's own
threads (HTTP, sockets, the runner, agents' log writers) queue in the process and find the
database's lock free when their turn comes.

Across processes (``serve --workers`` siblings, ``runagents``, a management command) the thread at
the head of each process's queue then takes an exclusive ``flock`` on a file beside the database
(``<database>-writers``): the kernel wakes a process waiting there as soon as the holder lets go, so
the writers of two workers take turns instead of sleeping in the busy handler (whose p99 with
``--workers 2`` and 16 clients was about 200 ms against 50 to 70 ms in one process).

The database's own lock still decides: programs that do not use this backend (the ``sqlite3``
shell) wait in the busy handler as before, and a writer of this process that waited ``timeout``
seconds in the process's queue goes ahead to the busy handler without the file lock, so a thread
that holds a transaction while waiting for another one of its process can never deadlock it
(SQLite fails one of them after the timeout, as before). A writer never waits for another process
while it holds the file lock: the hub's transactions do not call other processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from typing import Any

from django.db.backends.sqlite3 import base, creation

_queues: dict[str, threading.Lock] = {}
_queues_guard = threading.Lock()
_lock_files: dict[str, int] = {}  # database file -> this process's descriptor of its -writers file
WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _queue_for(name: str) -> threading.Lock:
    """The queue of one database file (looked up per transaction: tests switch the file's name)."""
    queue = _queues.get(name)
    if queue is None:
        with _queues_guard:
            queue = _queues.setdefault(name, threading.Lock())
    return queue


def _lock_file_for(name: str) -> int | None:
    """This process's descriptor of the database's ``-writers`` file; None for an in-memory database.

    Only the thread holding the process's queue for ``name`` calls it, so it needs no guard of its own.
    """
    if not _lock_file_for_path(name):
        return None
    fd = _lock_files.get(name)
    if fd is None:
        try:
            fd = os.open(f"{name}-writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:  # a read-only folder: the busy handler alone keeps processes apart, as before
            return None
        _lock_files[name] = fd
    return fd


def _remove_lock_file(name: str) -> None:
    """The database is gone (a test database destroyed): so is its ``-writers`` file."""
    fd = _lock_files.pop(name, None)
    if fd is not None:
        os.close(fd)
    if _lock_file_for_path(name):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{name}-writers")


def _lock_file_for_path(name: str) -> bool:
    return name != ":memory:" and not name.startswith("file:") and os.path.isabs(name)


def _forget_lock_files() -> None:
    # A forked child shares its parent's open file descriptions, hence its flock: it opens its own.
    _lock_files.clear()


os.register_at_fork(after_in_child=_forget_lock_files)


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]  # not in django-stubs
        _remove_lock_file(test_database_name)


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue_wait = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        self._holds_write_queue: threading.Lock | None = None
        self._holds_lock_file: int | None = None
        self.execute_wrappers.append(self._queue_autocommit_write)

    def _take_write_queue(self) -> None:
        if self._holds_write_queue is None:
            name = str(self.settings_dict["NAME"])
            queue = _queue_for(name)
            if queue.acquire(timeout=self._queue_wait):
                self._holds_write_queue = queue
                try:
                    fd = _lock_file_for(name)
                    if fd is not None:
                        fcntl.flock(fd, fcntl.LOCK_EX)  # waits in the kernel; other threads run meanwhile
                        self._holds_lock_file = fd
                except BaseException:  # the process's queue must not stay taken
                    self._leave_write_queue()
                    raise

    def _leave_write_queue(self) -> None:
        queue, self._holds_write_queue = self._holds_write_queue, None
        fd, self._holds_lock_file = self._holds_lock_file, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)  # before the process's queue: another process may be next
        if queue is not None:
            queue.release()

    def _start_transaction_under_autocommit(self) -> None:
        # Only BEGIN IMMEDIATE takes the database's write lock at once; a deferred BEGIN may be a
        # reader's, which must not wait for writers.
        if getattr(self, "transaction_mode", None) == "IMMEDIATE":
            self._take_write_queue()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # not in django-stubs
        except BaseException:
            self._leave_write_queue()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._leave_write_queue()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._leave_write_queue()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]  # not in django-stubs
        finally:
            self._leave_write_queue()

    def _queue_autocommit_write(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        """An autocommit write is its own transaction: it queues like one, for its one statement."""
        if (
            self._holds_write_queue is not None
            or not self.get_autocommit()
            or not sql.lstrip()[:7].upper().startswith(WRITE_STATEMENTS)
        ):
            return execute(sql, params, many, context)
        self._take_write_queue()
        try:
            return execute(sql, params, many, context)
        finally:
            self._leave_write_queue()
