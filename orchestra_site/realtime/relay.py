"""Relay outbox rows written by other processes to this process's in-memory channel layer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from orchestra_site import wakeups
from orchestra_site.models import OutboxEvent
from orchestra_site.outages import Outage, backoff, forget_broken_connection
from orchestra_site.realtime.events import PROCESS_ID, bind_event_loop

KEEP_ROWS_FOR = timedelta(minutes=5)
CLEANUP_EVERY = timedelta(minutes=1)
BATCH = 500

OutboxRow = tuple[int, str, str, str, "int | None"]  # id, origin, group, text, version


async def fan_out_here(rows: list[OutboxRow]) -> None:
    """Deliver rows to this process's sockets, skipping the ones it wrote (it delivered them itself)."""
    hub = bind_event_loop(asyncio.get_running_loop())
    for _row_id, origin, group, text, version in rows:
        if origin != PROCESS_ID:
            await hub.fan_out(group, [(text, version)])


class OutboxRelay:
    """Read the outbox when another process wrote to it and hand the rows on, oldest first: by
    default to this process's sockets; ``serve --workers N`` passes ``forward`` to send them to its
    workers instead.

    The writers wake the relay on commit (``orchestra_site.wakeups.OUTBOX``); it also looks after
    ``ORCHESTRA_WAKEUP_TIMEOUT`` without one, so a lost wake-up delays rows, never loses them.
    Writes are serialised on SQLite, so ids appear in commit order and a cursor on the id is
    enough. (Several processes on PostgreSQL should use Redis, which needs no relay.)
    """

    def __init__(
        self,
        timeout: float | None = None,
        forward: Callable[[list[OutboxRow]], Awaitable[None]] = fan_out_here,
    ) -> None:
        self.timeout = settings.WAKEUP_TIMEOUT if timeout is None else timeout
        self.forward = forward
        self.cursor: int | None = None
        self._last_cleanup = timezone.now()

    async def start(self) -> None:
        """Relay only what is written from now on (a socket opened later gets a snapshot first)."""
        self.cursor = await database_sync_to_async(self._latest_id)()

    async def run(self, stop: asyncio.Event) -> None:
        if self.cursor is None:
            await self.start()
        outage = Outage("the outbox relay")
        failures = 0
        with wakeups.listening(wakeups.OUTBOX) as waiter:
            while not stop.is_set():
                try:
                    delivered = await self.relay_once()
                except Exception as error:  # a locked database or a restart must not end the relay
                    outage.failed(error)  # logged once per outage, not ten times a second
                    await database_sync_to_async(forget_broken_connection)()
                    failures, delivered = failures + 1, 0
                else:
                    outage.recovered()
                    failures = 0
                if not delivered:
                    await waiter.wait_async(backoff(failures) if failures else self.until_cleanup(), stop)

    def until_cleanup(self) -> float:
        """The wait for a wake-up: the safety timeout, or less when the old rows' cleanup is due."""
        cleanup_in = (self._last_cleanup + CLEANUP_EVERY - timezone.now()).total_seconds()
        return max(min(self.timeout, cleanup_in), 0.0)

    async def relay_once(self) -> int:
        rows = await database_sync_to_async(self._fetch)()
        if rows:
            self.cursor = rows[-1][0]
            await self.forward(rows)
        if timezone.now() - self._last_cleanup > CLEANUP_EVERY:
            await database_sync_to_async(self._cleanup)()
        return len(rows)

    def _latest_id(self) -> int:
        return OutboxEvent.objects.aggregate(latest=Max("id"))["latest"] or 0

    def _fetch(self) -> list[OutboxRow]:
        rows = OutboxEvent.objects.filter(id__gt=self.cursor or 0).order_by("id")
        return list(rows.values_list("id", "origin", "group", "text", "version")[:BATCH])

    def _cleanup(self) -> None:
        self._last_cleanup = timezone.now()
        OutboxEvent.objects.filter(created_at__lt=self._last_cleanup - KEEP_ROWS_FOR).delete()
