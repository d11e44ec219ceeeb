"""What every consumer of the hub shares."""

from __future__ import annotations

import asyncio
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from orchestra_site.events import bind_event_loop


class HubConsumer(AsyncJsonWebsocketConsumer):
    """Relays the pre-encoded frames ``orchestra_site.events`` sends to its groups."""

    groups_joined: set[str]
    last_versions: dict[str, int]

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.groups_joined = set()
        self.last_versions = {}
        bind_event_loop(asyncio.get_running_loop())
        await super().websocket_connect(message)

    async def join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    async def leave(self, group: str) -> None:
        if group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)

    async def disconnect(self, code: int) -> None:
        for group in list(self.groups_joined):
            await self.leave(group)

    def seen(self, group: str, version: int) -> None:
        """Record a version this socket already has for ``group`` (e.g. a snapshot it was sent)."""
        self.last_versions[group] = max(version, self.last_versions.get(group, 0))

    async def hub_frame(self, message: dict[str, Any]) -> None:
        version, group = message.get("version"), message.get("group", "")
        if version is not None:
            if version <= self.last_versions.get(group, -1):
                return  # a late, older (or duplicate) frame: the client already has newer
            self.last_versions[group] = version
        await self.send(text_data=message["text"])


class UnknownRouteConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.close(code=4004)
