"""Relay outbox rows written by other processes to this process's in-memory channel layer."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from django.db.models import Max
from django.utils import timezone

from orchestra_site.models import OutboxEvent
from orchestra_site.realtime.events import PROCESS_ID, bind_event_loop

logger = logging.getLogger(__name__)
KEEP_ROWS_FOR = timedelta(minutes=5)
BATCH = 500


class OutboxRelay:
    """Poll the outbox and deliver the frames of other processes, oldest first.

    Writes are serialised on SQLite, so ids appear in commit order and a cursor on the id is
    enough. (Several processes on PostgreSQL should use Redis, which needs no relay.)
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.cursor = 0
        self._last_cleanup = timezone.now()

    async def run(self, stop: asyncio.Event) -> None:
        self.cursor = await database_sync_to_async(self._latest_id)()
        while not stop.is_set():
            try:
                delivered = await self.relay_once()
            except Exception:  # a locked database or a restart must not end the relay
                logger.exception("outbox relay failed; retrying")
                delivered = 0
            if not delivered:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.interval)
                except TimeoutError:
                    pass

    async def relay_once(self) -> int:
        rows = await database_sync_to_async(self._fetch)()
        hub = bind_event_loop(asyncio.get_running_loop())
        for row_id, origin, group, text, version in rows:
            self.cursor = row_id
            if origin != PROCESS_ID:
                await hub.fan_out(group, [(text, version)])
        if timezone.now() - self._last_cleanup > timedelta(minutes=1):
            await database_sync_to_async(self._cleanup)()
        return len(rows)

    def _latest_id(self) -> int:
        return OutboxEvent.objects.aggregate(latest=Max("id"))["latest"] or 0

    def _fetch(self) -> list[tuple[int, str, str, str, int | None]]:
        rows = OutboxEvent.objects.filter(id__gt=self.cursor).order_by("id")
        return list(rows.values_list("id", "origin", "group", "text", "version")[:BATCH])

    def _cleanup(self) -> None:
        self._last_cleanup = timezone.now()
        OutboxEvent.objects.filter(created_at__lt=self._last_cleanup - KEEP_ROWS_FOR).delete()
