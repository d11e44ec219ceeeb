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
(``<database>-writers``, ``file_lock.py``): the kernel wakes a process waiting there as soon as the
holder lets go, so the writers of two workers take turns instead of sleeping in the busy handler
(whose p99 with ``--workers 2`` and 16 clients was 130 to 210 ms against 50 to 70 ms in one
process).

Neither wait is endless, and the database's own lock still decides. A writer that has waited
``timeout`` seconds (the database's setting, 30 s) in its process's queue, or in the queue and at
the file lock together, goes on to ``BEGIN IMMEDIATE`` without them and waits in the busy handler
as before, which fails it after a further ``timeout`` if the lock is still held: a thread holding
a transaction while it waits for another writer of its process, a transaction left open in
``manage.py shell``, or a stopped process cannot hang the others. Programs that do not use this
backend (the ``sqlite3`` shell) and writers that gave up on the queue only meet the busy handler;
so does everyone when the ``-writers`` file cannot be opened (a read-only folder, a file another
user created), which is logged once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from django.db.backends.sqlite3 import base, creation

from orchestra_site.db.sqlite3.file_lock import FileLock

logger = logging.getLogger(__name__)
_queues: dict[str, threading.Lock] = {}
_queues_guard = threading.Lock()
_file_locks: dict[str, FileLock | None] = {}  # database file -> its -writers lock (None: unusable)
_keys: dict[str, str] = {}  # NAME as configured -> the database file's real path
WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _database_key(name: str) -> str:
    """One key per database file, however its path is spelled (relative, with ``..``, a symlink)."""
    key = _keys.get(name)
    if key is None:
        key = _keys[name] = os.path.realpath(name) if _on_disk(name) else name
    return key


def _on_disk(name: str) -> bool:
    return name not in ("", ":memory:") and not name.startswith("file:")


def _queue_for(name: str) -> threading.Lock:
    """The queue of one database file (looked up per transaction: tests switch the file's name)."""
    queue = _queues.get(name)
    if queue is None:
        with _queues_guard:
            queue = _queues.setdefault(name, threading.Lock())
    return queue


def _file_lock_for(key: str) -> FileLock | None:
    """The database's ``-writers`` lock in this process; None for an in-memory database or an
    unusable file. Only the thread at the head of the key's queue calls it."""
    if key not in _file_locks:
        lock = None
        if _on_disk(key):
            try:
                lock = FileLock(f"{key}-writers")
            except OSError as exc:
                logger.warning(
                    "%s-writers cannot be used (%s): other processes' writers meet in SQLite's busy handler", key, exc
                )
        _file_locks[key] = lock
    return _file_locks[key]


SIDE_FILES = ("-writers", "-wal", "-shm", "-journal")


def _remove_side_files(name: str) -> None:
    """The database is gone (a test database destroyed): so are the files beside it, ours and
    SQLite's (Django removes only the database file). The ``-writers`` descriptor stays open (a
    thread of the process may still hold the lock), then closes with the process."""
    key = _database_key(name)
    _file_locks.pop(key, None)
    if _on_disk(key):
        for suffix in SIDE_FILES:
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{key}{suffix}")


def _forget_in_child() -> None:
    # A forked child shares its parent's open files, hence their flocks, and copies its queues in
    # whatever state they were: it starts its own. Closing its copies leaves the parent's locks be.
    global _queues
    for lock in _file_locks.values():
        if lock is not None:
            lock.close()
    _file_locks.clear()
    _queues = {}


os.register_at_fork(after_in_child=_forget_in_child)


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        super()._destroy_test_db(test_database_name, verbosity)  # type: ignore[misc]  # not in django-stubs
        _remove_side_files(test_database_name)


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queue_wait = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        self._holds_write_queue: threading.Lock | None = None
        self._holds_file_lock: FileLock | None = None
        self.execute_wrappers.append(self._queue_autocommit_write)

    def _take_write_queue(self) -> None:
        if self._holds_write_queue is None:
            key = _database_key(str(self.settings_dict["NAME"]))
            deadline = time.monotonic() + self._queue_wait
            queue = _queue_for(key)
            if queue.acquire(timeout=self._queue_wait):
                self._holds_write_queue = queue
                try:
                    lock = _file_lock_for(key)
                    if lock is not None and lock.acquire(max(0.0, deadline - time.monotonic())):
                        self._holds_file_lock = lock
                except BaseException:  # the process's queue must not stay taken
                    self._leave_write_queue()
                    raise

    def _leave_write_queue(self) -> None:
        queue, self._holds_write_queue = self._holds_write_queue, None
        lock, self._holds_file_lock = self._holds_file_lock, None
        try:
            if lock is not None:
                lock.release()  # before the process's queue: another process may be next
        finally:
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
