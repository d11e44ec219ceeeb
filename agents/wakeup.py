"""How the agents app wakes the runners: services call these on commit and never import the runner.

A launch, a queued run, a DAG run or a cancel commits, then every runner wakes (this process's at
once, the others' through the database: ``orchestra_site.wakeups``) instead of finding the work
at its next look.
"""

from __future__ import annotations

from orchestra_site import wakeups


def wake_runners() -> None:
    """Wake every runner now: this process's at once, the others' through the database."""
    wakeups.wake(wakeups.WORK)


def wake_runners_on_commit() -> None:
    """Wake every runner once the surrounding transaction commits (at once outside one)."""
    wakeups.wake_on_commit(wakeups.WORK)
