"""The ``/orchestration`` WebSocket: global totals for everyone, workspaces on subscription."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError

from orchestra_site.consumers import HubConsumer
from orchestra_site.errors import flatten_errors
from orchestra_site.events import GLOBAL_GROUP, workspace_group
from orchestra_site.parsers import JsonRefused, loads_bounded
from orchestration import events, selectors, services
from orchestration.paths import normalize_workspace_path


class FrameError(Exception):
    pass


class OrchestrationConsumer(HubConsumer):
    subscriptions: set[str]

    async def connect(self) -> None:
        self.subscriptions = set()
        await self.accept()
        # Join first, then read: a change made in between is held back and sent after the
        # snapshot only if newer, so nothing is missed and versions never go back.
        async with self.holding_frames():
            await self.join(GLOBAL_GROUP)
            await self.send_global_snapshot()

    async def resync(self) -> None:
        """Fresh snapshots of the totals and of every subscribed workspace (after a layer outage)."""
        async with self.holding_frames():
            await self.send_global_snapshot()
            for workspace_id in sorted(self.subscriptions):
                await self.send_workspace_snapshot(workspace_id)

    async def send_global_snapshot(self) -> None:
        totals = await database_sync_to_async(selectors.global_state)()
        self.seen(GLOBAL_GROUP, totals.version)
        await self.send(text_data=events.frame(events.GLOBAL_EVENT, events.global_data(totals)))

    async def send_workspace_snapshot(self, workspace_id: str, *, touch: bool = False) -> None:
        read = self._touch_and_read if touch else selectors.workspace_state
        state = await database_sync_to_async(read)(workspace_id)
        self.seen(workspace_group(workspace_id), state.version)
        await self.send(text_data=events.frame(events.WORKSPACE_EVENT, events.workspace_data(state)))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            name, workspace_id = self.parse_frame(text_data)
            if name == "subscribe":
                await self.subscribe(workspace_id)
            else:
                await self.unsubscribe(workspace_id)
        except FrameError as exc:
            await self.send(text_data=events.frame("error", {"message": str(exc)}))

    def parse_frame(self, text_data: str | None) -> tuple[str, str]:
        if text_data is None:
            raise FrameError("frames must be JSON text, not binary.")
        try:
            frame: Any = loads_bounded(text_data)
        except JsonRefused as exc:
            raise FrameError(f"frame: {exc}") from None
        except ValueError:
            raise FrameError("frame is not valid JSON.") from None
        if not isinstance(frame, dict):
            raise FrameError('frame must be an object {"event": NAME, "data": {...}}.')
        name, data = frame.get("event"), frame.get("data")
        if name not in ("subscribe", "unsubscribe"):
            raise FrameError(f"event: unknown event {name!r}; expected 'subscribe' or 'unsubscribe'.")
        if not isinstance(data, dict):
            raise FrameError("data: must be an object with workspaceId.")
        try:
            return name, normalize_workspace_path(data.get("workspaceId"))
        except ValidationError as exc:
            raise FrameError("; ".join(flatten_errors(exc.message_dict))) from None

    async def subscribe(self, workspace_id: str) -> None:
        self.subscriptions.add(workspace_id)
        async with self.holding_frames():
            await self.join(workspace_group(workspace_id))
            await self.send(text_data=events.frame("subscribed", {"workspaceId": workspace_id}))
            await self.send_workspace_snapshot(workspace_id, touch=True)

    async def unsubscribe(self, workspace_id: str) -> None:
        self.subscriptions.discard(workspace_id)
        await self.leave(workspace_group(workspace_id))
        await self.send(text_data=events.frame("unsubscribed", {"workspaceId": workspace_id}))

    @staticmethod
    def _touch_and_read(workspace_id: str) -> selectors.WorkspaceState:
        services.workspace_touch(path=workspace_id)
        return selectors.workspace_state(workspace_id)
