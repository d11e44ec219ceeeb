"""``FileLock``: two instances on one path are two open files, so they exclude each other as two
processes would; the time limit, the hand-over and the let-go of a lock nobody waits for any more.
And the files beside a test database go with it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from django.db import connection

from orchestra_site.db.sqlite3.base import SIDE_FILES, DatabaseCreation
from orchestra_site.db.sqlite3.file_lock import FileLock


def locks(tmp_path: Path) -> tuple[FileLock, FileLock]:
    path = str(tmp_path / "db-writers")
    return FileLock(path), FileLock(path)


def test_a_held_lock_keeps_the_other_out_until_its_time_limit(tmp_path: Path) -> None:
    mine, other = locks(tmp_path)
    assert mine.acquire(1)
    started = time.monotonic()
    assert not other.acquire(0.3)
    assert 0.25 < time.monotonic() - started < 2


def test_the_lock_goes_to_the_waiting_one_as_soon_as_it_is_let_go(tmp_path: Path) -> None:
    mine, other = locks(tmp_path)
    assert mine.acquire(1)
    got: list[float] = []
    waiter = threading.Thread(target=lambda: got.append(time.monotonic()) if other.acquire(10) else None)
    waiter.start()
    time.sleep(0.2)
    released = time.monotonic()
    mine.release()
    waiter.join(5)
    assert got and got[0] - released < 0.5
    assert not mine.acquire(0.1), "the other one holds it now"
    other.release()
    assert mine.acquire(1)


def test_a_lock_given_up_on_is_let_go_when_it_comes(tmp_path: Path) -> None:
    mine, other = locks(tmp_path)
    assert mine.acquire(1)
    assert not other.acquire(0.1)  # its thread still waits in flock()
    mine.release()  # the thread gets it and, nobody waiting any more, lets it go
    deadline = time.monotonic() + 5
    while not mine.acquire(0.05):
        assert time.monotonic() < deadline, "the abandoned lock was never let go"
    mine.release()
    assert other.acquire(1)


def test_a_destroyed_test_database_takes_the_files_beside_it(tmp_path: Path) -> None:
    database = tmp_path / "test.sqlite3"
    for name in ["test.sqlite3", *(f"test.sqlite3{suffix}" for suffix in SIDE_FILES)]:
        (tmp_path / name).write_text("")

    DatabaseCreation(connection)._destroy_test_db(str(database), verbosity=0)

    assert list(tmp_path.iterdir()) == []
