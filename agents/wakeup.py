"""The signal that wakes this process's runner: services set it on commit, the runner waits on it.

A launch or cancel commits, then ``wake_runners`` sets the event, so a runner in the same process
starts (or stops) the work at once instead of at its next poll; runners in other processes find it
by polling. Services call ``wake_runners_on_commit`` and so never import the runner.
"""

from __future__ import annotations

import threading

from django.db import transaction

work_arrived = threading.Event()


def wake_runners() -> None:
    work_arrived.set()


def wake_runners_on_commit() -> None:
    """Wake the runner once the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(wake_runners)


def wait_for_work(timeout: float) -> bool:
    """Sleep until woken or ``timeout`` seconds pass; True when woken. Clears the signal."""
    woken = work_arrived.wait(timeout)
    work_arrived.clear()
    return woken
