"""Riding out a database (or Redis) that blinks: retry with backoff, and log an outage once.

A restart of PostgreSQL, a full disk, a network cut: the hub's loops and its agents' workers must
outlive all of them. ``Outage`` logs the first failure of an outage and its end, not every retry;
``retry_database`` runs one write until it lands, closing the broken connection between tries so
the next one opens a fresh one. Writes retried this way are compare-and-sets, so a write that
landed before its answer was lost changes nothing the second time.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger("orchestra.outages")
T = TypeVar("T")
# What a restart, a cut network, a lock timeout or a full disk raise. Other database errors
# (a constraint, bad data) would fail again the same way: they are not retried.
TRANSIENT = (OperationalError, InterfaceError)

FIRST_RETRY = 0.2
LONGEST_WAIT = 5.0


def backoff(attempt: int, *, first: float = FIRST_RETRY, longest: float = LONGEST_WAIT) -> float:
    """Seconds before try ``attempt`` (1, 2, ...): doubling, capped, with jitter so processes that
    lost the database together do not all come back in the same millisecond."""
    return min(first * 2 ** (attempt - 1), longest) * random.uniform(0.75, 1.0)


class Outage:
    """The state of one kind of work against a service: up, or down since when (logged once)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down_since: float | None = None
        self.reason = ""
        self.lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: BaseException) -> None:
        with self.lock:
            first_line = (str(error).strip().splitlines() or [""])[0]
            self.reason = f"{type(error).__name__}: {first_line}".rstrip(": ")
            if self.down_since is None:
                self.down_since = time.monotonic()
                logger.warning("%s failed; retrying until it works again (%s)", self.what, self.reason)

    def recovered(self) -> None:
        with self.lock:
            if self.down_since is not None:
                logger.warning("%s works again after %.1f s", self.what, time.monotonic() - self.down_since)
            self.down_since = None
            self.reason = ""


def forget_broken_connection() -> None:
    """After a database error, drop this thread's connection if it is unusable (a fresh one is
    opened by the next query); a pooled connection goes back to its pool, which discards it."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        if connection.in_atomic_block:
            return  # the transaction's owner rolls back and closes it
        connection.close_if_unusable_or_obsolete()
        if connection.connection is not None and not connection.is_usable():
            connection.close()
    except Exception:  # closing a dead connection may fail too; the next query reconnects
        try:
            connection.close()
        except Exception:
            connection.connection = None


def retry_database(
    write: Callable[[], T], *, what: str, give_up: Callable[[], bool] = lambda: False, outage: Outage | None = None
) -> T:
    """Run ``write`` until it succeeds, backing off between tries; re-raise only when ``give_up()``
    says so (the process is stopping and someone else will settle the row)."""
    outage = outage or Outage(what)
    attempt = 0
    while True:
        try:
            result = write()
        except TRANSIENT as error:
            outage.failed(error)
            forget_broken_connection()
            attempt += 1
            if give_up():
                raise
            time.sleep(backoff(attempt))
            continue
        outage.recovered()
        return result
