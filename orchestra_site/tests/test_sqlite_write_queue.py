"""On SQLite, the hub's own writers wait for each other in the process, not in SQLite's busy handler.

The check: a writer whose connection has no busy timeout at all (``PRAGMA busy_timeout = 0``)
would fail at once with "database is locked" if it met another thread's write lock in SQLite;
queued in the process, it starts only once that transaction has committed and succeeds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction

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
