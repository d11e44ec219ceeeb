"""What a client of the ``/orchestration`` socket can do, whichever protocol carries its frames.

The raw JSON WebSocket (``orchestration.consumers``) and Socket.IO (``orchestration.socketio_server``)
hand every client event to an ``OrchestrationSession``, which answers through the connection's
``FrameSubscriber``: both kinds of client get the same events with the same payloads, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError

from orchestra_site.api.errors import flatten_errors
from orchestra_site.realtime.consumers import FrameSubscriber
from orchestra_site.realtime.events import GLOBAL_GROUP, workspace_group
from orchestration import events, selectors, services
from orchestration.paths import normalize_workspace_id

MAX_PROJECT_NUMBERS = 1000
# An event name is echoed in the error; a client may send a megabyte of it.
MAX_ECHOED_NAME = 64
KNOWN_EVENTS = "'subscribe', 'unsubscribe' or 'subscribeProjects'"


class FrameError(Exception):
    """A client frame that cannot be handled; its text is the ``error`` event's message."""


class OrchestrationSession:
    """One connected client: the global totals on connect, workspaces on subscription.

    A lock runs the connection's steps one at a time (Socket.IO may deliver an event while the
    connect snapshot is still being sent), so answers keep the order of the client's events.
    """

    def __init__(self, subscriber: FrameSubscriber) -> None:
        self.subscriber = subscriber
        self.lock = asyncio.Lock()
        self.workspaces: set[str] = set()

    async def send(self, event: str, data: object) -> None:
        await self.subscriber.send_text(events.frame(event, data))

    async def send_error(self, message: str) -> None:
        await self.send("error", {"message": message})

    async def open(self) -> None:
        """Send the global totals. Join first, then read: a change made in between is held back
        and sent after the snapshot only if newer, so nothing is missed and versions never go back."""
        async with self.lock, self.subscriber.holding_frames():
            await self.subscriber.join(GLOBAL_GROUP)
            await self.send_global_snapshot()

    async def resync(self) -> None:
        """Fresh snapshots of the totals and of every subscribed workspace, after frames may have
        been lost (the channel layer was away)."""
        async with self.lock, self.subscriber.holding_frames():
            await self.send_global_snapshot()
            for workspace_id in sorted(self.workspaces):
                await self.send_workspace_snapshot(workspace_id, read=selectors.workspace_state)

    async def send_global_snapshot(self) -> None:
        totals = await database_sync_to_async(selectors.global_state)()
        self.subscriber.seen(GLOBAL_GROUP, totals.version)
        await self.send(events.GLOBAL_EVENT, events.global_data(totals))

    async def send_workspace_snapshot(
        self, workspace_id: str, *, read: Callable[[str], selectors.WorkspaceState]
    ) -> None:
        state = await database_sync_to_async(read)(workspace_id)
        self.subscriber.seen(workspace_group(workspace_id), state.version)
        await self.send(events.WORKSPACE_EVENT, events.workspace_data(state))

    async def close(self) -> None:
        async with self.lock:
            await self.subscriber.leave_all()

    async def handle(self, name: object, data: object) -> None:
        """Answer one client event; a bad one gets ``error {message}`` and changes nothing."""
        async with self.lock:
            try:
                if name == "subscribe":
                    await self.subscribe(workspace_id_of(data))
                elif name == "unsubscribe":
                    await self.unsubscribe(workspace_id_of(data))
                elif name == "subscribeProjects":
                    await self.send("subscribedProjects", {"projectNumbers": project_numbers_of(data)})
                else:
                    raise FrameError(f"event: unknown event {echo(name)}; expected {KNOWN_EVENTS}.")
            except FrameError as exc:
                await self.send_error(str(exc))

    async def subscribe(self, workspace_id: str) -> None:
        self.workspaces.add(workspace_id)
        async with self.subscriber.holding_frames():
            await self.subscriber.join(workspace_group(workspace_id))
            await self.send("subscribed", {"workspaceId": workspace_id})
            await self.send_workspace_snapshot(workspace_id, read=_touch_and_read)

    async def unsubscribe(self, workspace_id: str) -> None:
        self.workspaces.discard(workspace_id)
        await self.subscriber.leave(workspace_group(workspace_id))
        await self.send("unsubscribed", {"workspaceId": workspace_id})


def workspace_id_of(data: object) -> str:
    if not isinstance(data, dict):
        raise FrameError("data: must be an object with workspaceId.")
    try:
        return normalize_workspace_id(data.get("workspaceId"))
    except ValidationError as exc:
        raise FrameError("; ".join(flatten_errors(exc.message_dict))) from None


def project_numbers_of(data: object) -> list[int]:
    """The numbers as given. The hub keeps no GitHub projects, so nothing follows the answer."""
    numbers = data.get("projectNumbers") if isinstance(data, dict) else None
    if not isinstance(numbers, list) or not all(_is_project_number(number) for number in numbers):
        raise FrameError("projectNumbers: must be a list of positive integers.")
    if len(numbers) > MAX_PROJECT_NUMBERS:
        raise FrameError(f"projectNumbers: must hold at most {MAX_PROJECT_NUMBERS} numbers.")
    return numbers


def _is_project_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def echo(name: object) -> str:
    text = repr(name)
    return text if len(text) <= MAX_ECHOED_NAME else text[:MAX_ECHOED_NAME] + "…"


def _touch_and_read(workspace_id: str) -> selectors.WorkspaceState:
    services.workspace_touch(path=workspace_id)
    return selectors.workspace_state(workspace_id)
