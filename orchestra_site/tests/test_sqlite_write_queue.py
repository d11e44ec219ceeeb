"""On SQLite, the hub's own writers wait for each other in a queue, not in SQLite's busy handler.

The check: a writer whose connection has no busy timeout at all (``PRAGMA busy_timeout = 0``)
would fail at once with "database is locked" if it met another thread's write lock in SQLite;
queued in the process, it starts only once that transaction has committed and succeeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from orchestra_site.db.sqlite3.base import DatabaseWrapper
from orchestra_site.db.sqlite3.file_lock import FileLock
from orchestration import selectors, services

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's single write lock"),
]


def in_thread(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def without_busy_timeout() -> None:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 0")


@pytest.mark.parametrize("second_writer", ["transaction", "autocommit write"])
def test_a_writer_waits_for_another_threads_transaction_in_the_process(second_writer: str) -> None:
    services.workspace_set_desired(path="/srv/first", desired=1)
    services.workspace_set_desired(path="/srv/second", desired=1)
    holding, finish = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_the_write_lock() -> None:
        with transaction.atomic():
            services.workspace_set_desired(path="/srv/first", desired=2)
            holding.set()
            finish.wait(10)

    def write() -> None:
        without_busy_timeout()
        if second_writer == "transaction":
            services.workspace_set_desired(path="/srv/second", desired=3)
        else:
            services.workspace_touch(path="/srv/second")  # one UPDATE outside any transaction

    first = in_thread(hold_the_write_lock, errors)
    assert holding.wait(10)
    second = in_thread(write, errors)
    second.join(0.3)
    assert second.is_alive(), "the second writer must wait while the first holds the lock"
    finish.set()
    first.join(10)
    second.join(10)

    assert errors == []
    assert selectors.workspace_state("/srv/first").desired == 2
    assert selectors.workspace_state("/srv/second").desired == (3 if second_writer == "transaction" else 1)


def test_a_failed_transaction_gives_the_queue_back() -> None:
    services.workspace_set_desired(path="/srv/repo", desired=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.workspace_set_desired(path="/srv/repo", desired=2)
        raise RuntimeError("the view failed")
    errors: list[BaseException] = []

    def write() -> None:
        without_busy_timeout()
        services.workspace_set_desired(path="/srv/repo", desired=4)

    writer = in_thread(write, errors)
    writer.join(5)
    assert not writer.is_alive() and errors == []
    assert selectors.workspace_state("/srv/repo").desired == 4


# Another process of the hub (a ``serve --workers`` sibling, ``runagents``): the hub's backend,
# no busy timeout, one write in a transaction. It prints "ready" just before it asks for the lock.
OTHER_PROCESS = """
import sys
import django
from django.conf import settings
settings.configure(DATABASES={"default": {
    "ENGINE": "orchestra_site.db.sqlite3",
    "NAME": sys.argv[1],
    "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30},
}})
django.setup()
from django.db import connection, connections, transaction
with connection.cursor() as cursor:
    cursor.execute("PRAGMA busy_timeout = 0")
print("ready", flush=True)
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute("UPDATE orchestration_workspace SET desired = 7 WHERE path = '/srv/other'")
"""


def test_a_writer_of_another_process_waits_for_the_lock_file_not_the_busy_handler() -> None:
    services.workspace_set_desired(path="/srv/mine", desired=1)
    services.workspace_set_desired(path="/srv/other", desired=1)
    root = Path(__file__).resolve().parents[2]
    with transaction.atomic():
        services.workspace_set_desired(path="/srv/mine", desired=2)
        other = subprocess.Popen(
            [sys.executable, "-c", OTHER_PROCESS, str(connection.settings_dict["NAME"])],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert other.stdout is not None
            assert other.stdout.readline() == "ready\n"
            time.sleep(0.3)
            assert other.poll() is None, "the other process must wait while this one holds the lock"
        except BaseException:
            other.kill()
            raise
    try:
        _, error = other.communicate(timeout=20)
    finally:
        other.kill()

    assert other.returncode == 0, error  # without the file lock: "database is locked" at once
    assert selectors.workspace_state("/srv/mine").desired == 2
    assert selectors.workspace_state("/srv/other").desired == 7


def test_a_writer_goes_on_without_the_file_lock_once_its_time_is_up() -> None:
    """A process that keeps the file lock (a transaction left open in a shell, a stopped process)
    holds the others' writers only for their ``timeout``; then SQLite's own lock decides."""
    services.workspace_set_desired(path="/srv/repo", desired=1)
    another_process = FileLock(os.path.realpath(connection.settings_dict["NAME"]) + "-writers")
    assert another_process.acquire(1)
    database = connections["default"]
    assert isinstance(database, DatabaseWrapper)
    database._queue_wait, patience = 0.3, database._queue_wait  # the database's timeout, 30 s, made short
    try:
        started = time.monotonic()
        services.workspace_set_desired(path="/srv/repo", desired=2)
        waited = time.monotonic() - started
    finally:
        database._queue_wait = patience
        another_process.release()
        another_process.close()

    assert 0.25 < waited < 5
    assert selectors.workspace_state("/srv/repo").desired == 2
