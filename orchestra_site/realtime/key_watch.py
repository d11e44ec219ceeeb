"""Close the WebSockets of an API key once it is revoked (or deleted).

A socket is authenticated once, at its handshake, and may stay open for days. Each process
keeps the key id of every socket opened with a key and asks the database, in one query every
``KEY_CHECK_SECONDS``, which of those keys are still active; the sockets of the others are
closed with 4401. It works whoever revoked the key (admin, another process, a SQL shell).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async

from orchestra_site.models import ApiKey

logger = logging.getLogger(__name__)

KEY_CHECK_SECONDS = 2.0
REVOKED_CLOSE_CODE = 4401

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


Revoked = Callable[[], None]


class KeyWatch:
    """The sockets of this event loop by key id (each a callback to run on revocation), and the
    loop that checks their keys."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: dict[int, set[Revoked]] = defaultdict(set)
        self.task: asyncio.Task[None] | None = None

    def add(self, key_id: int, on_revoked: Revoked) -> None:
        self.sockets[key_id].add(on_revoked)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self.check_periodically())

    def discard(self, key_id: int, on_revoked: Revoked) -> None:
        callbacks = self.sockets.get(key_id)
        if callbacks is not None:
            callbacks.discard(on_revoked)
            if not callbacks:
                del self.sockets[key_id]

    async def check_periodically(self) -> None:
        while self.sockets:
            await asyncio.sleep(KEY_CHECK_SECONDS)
            try:
                active = await database_sync_to_async(_active_key_ids)(list(self.sockets))
            except Exception:  # the database is away: keep the sockets, try again
                logger.warning("could not check the API keys of open sockets", exc_info=True)
                continue
            for key_id in [key_id for key_id in self.sockets if key_id not in active]:
                for on_revoked in self.sockets.pop(key_id, ()):
                    on_revoked()


def _active_key_ids(key_ids: list[int]) -> set[int]:
    return set(ApiKey.objects.active().filter(pk__in=key_ids).values_list("pk", flat=True))


_watches: dict[asyncio.AbstractEventLoop, KeyWatch] = {}


def on_revocation(key_id: int, on_revoked: Revoked) -> Callable[[], None]:
    """Call ``on_revoked`` (on this event loop) once the key is revoked; returns the way to stop
    watching (when the connection ends first)."""
    loop = asyncio.get_running_loop()
    watch = _watches.get(loop)
    if watch is None:
        for old in [old for old in _watches if old.is_closed()]:
            del _watches[old]
        watch = _watches[loop] = KeyWatch(loop)
    watch.add(key_id, on_revoked)
    return lambda: watch.discard(key_id, on_revoked)


async def run_while_key_active(app: Any, scope: dict[str, Any], receive: Receive, send: Send, *, key_id: int) -> Any:
    """Run the socket's app; when its key is revoked, close the socket and tell the app it left."""
    revoked = asyncio.Event()
    forget = on_revocation(key_id, revoked.set)

    async def receive_unless_revoked() -> dict[str, Any]:
        if not revoked.is_set():
            message = asyncio.ensure_future(receive())
            revocation = asyncio.ensure_future(revoked.wait())
            done, _ = await asyncio.wait({message, revocation}, return_when=asyncio.FIRST_COMPLETED)
            if message in done:
                revocation.cancel()
                return message.result()
            message.cancel()
        await send({"type": "websocket.close", "code": REVOKED_CLOSE_CODE, "reason": "API key revoked"})
        return {"type": "websocket.disconnect", "code": REVOKED_CLOSE_CODE}

    try:
        return await app(scope, receive_unless_revoked, send)
    finally:
        forget()
