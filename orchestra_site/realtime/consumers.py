"""What every consumer of the hub shares."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

from orchestra_site.realtime.events import EventHub, Frame, bind_event_loop
from orchestra_site.realtime.send_many import SEND_MANY
from orchestra_site.realtime.sending import start_send

logger = logging.getLogger("orchestra.realtime")


class FrameSubscriber:
    """A client of this process's ``EventHub``, whatever carries its frames (a Channels WebSocket
    or a Socket.IO connection): the groups it joined, the last version it got per group, and the
    live frames held back while it is sent a snapshot or while the server makes it wait (a client
    that reads slowly). Subclasses say how a frame is written.
    """

    hub: EventHub | None
    groups_joined: set[str]
    last_versions: dict[str, int]
    holds: int  # how many holders keep live frames back (snapshots, a write the server made wait)
    pending: list[tuple[str, list[Frame]]]
    # The task finishing a write the server made wait (the event loop keeps only weak references
    # to tasks). A class default: an idle socket pays for no attribute of its own.
    waiting_write: asyncio.Task[None] | None = None

    def start_subscriber(self) -> None:
        """Call before joining any group. The process's hub is bound on the first join, so a
        connection refused before it joins anything starts no channel-layer listener."""
        self.hub = None
        self.groups_joined = set()
        self.last_versions = {}
        self.holds = 0
        self.pending = []

    async def send_text(self, text: str) -> None:
        """Write one encoded ``{"event", "data"}`` frame to the client."""
        raise NotImplementedError

    async def join(self, group: str) -> None:
        if group not in self.groups_joined:
            if self.hub is None:
                self.hub = bind_event_loop(asyncio.get_running_loop())
            self.groups_joined.add(group)
            await self.hub.join(group, self)

    async def leave(self, group: str) -> None:
        if group in self.groups_joined and self.hub is not None:
            self.groups_joined.discard(group)
            await self.hub.leave(group, self)

    async def leave_all(self) -> None:
        for group in list(getattr(self, "groups_joined", ())):
            await self.leave(group)

    async def resync(self) -> None:
        """Send what the client needs after frames may have been lost (the channel layer was away).

        Sockets with a snapshot (the orchestration socket) send it again; the default is nothing.
        """

    def seen(self, group: str, version: int) -> None:
        """Record a version this socket already has for ``group`` (e.g. a snapshot it was sent)."""
        self.last_versions[group] = max(version, self.last_versions.get(group, 0))

    @property
    def busy(self) -> bool:
        return self.holds > 0

    def deliver_frames(self, group: str, frames: list[Frame]) -> None:
        self.write_or_hold([(group, frames)])

    def deliver_batches(self, batches: list[tuple[str, list[Frame]]]) -> None:
        """Called by the hub's fan-out with every frame it has for this socket, in order."""
        self.write_or_hold(batches)

    def write_or_hold(self, batches: list[tuple[str, list[Frame]]]) -> None:
        """The hub's fan-out must never wait for one client: the frames are written at once, or
        held back behind a snapshot or a write still waiting; a write that has to wait finishes
        in its own task (``realtime/sending.py``) and holds what follows."""
        if self.busy:
            self.pending.extend(batches)
            return
        self.holds += 1
        self.waiting_write = start_send(self.send_then_release(batches))

    async def send_then_release(self, batches: list[tuple[str, list[Frame]]]) -> None:
        try:
            try:
                await self.send_batches(batches)
            finally:
                await self.release()
        except Exception:  # one broken socket must not stop the others
            logger.exception("dropping a socket that failed to take a frame")
            self.pending.clear()
            await self.leave_all()

    @asynccontextmanager
    async def holding_frames(self) -> AsyncIterator[None]:
        """Hold live frames while sending a snapshot (join, read, send), then send them after it,
        so a client never gets an older snapshot after a newer live frame."""
        self.holds += 1
        try:
            yield
        finally:
            await self.release()

    async def release(self) -> None:
        """One holder is done; the last one sends what was held, in order, before letting go."""
        try:
            while self.holds == 1 and self.pending:
                batches, self.pending = self.pending, []
                await self.send_batches(batches)
        finally:
            self.holds -= 1

    async def send_frames(self, group: str, frames: list[Frame]) -> None:
        await self.send_batches([(group, frames)])

    async def send_batches(self, batches: list[tuple[str, list[Frame]]]) -> None:
        texts = []
        for group, frames in batches:
            for text, version in frames:
                if version is not None:
                    if version <= self.last_versions.get(group, -1):
                        continue  # a late, older (or duplicate) frame: the client already has newer
                    self.last_versions[group] = version
                texts.append(text)
        if texts:
            await self.send_texts(texts)

    async def send_texts(self, texts: list[str]) -> None:
        """Write several encoded frames, in order; a server that can does it in one write."""
        for text in texts:
            await self.send_text(text)


class HubConsumer(FrameSubscriber, AsyncJsonWebsocketConsumer):
    """A WebSocket in groups of ``orchestra_site.realtime.events``: frames arrive encoded, once per process.

    It has no channel-layer channel of its own (``channel_layer_alias`` names no layer): the
    process's ``EventHub`` writes group frames to its sockets directly.
    """

    channel_layer_alias = "hub-local-fan-out"

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.start_subscriber()
        await super().websocket_connect(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        await self.leave_all()
        await super().websocket_disconnect(message)

    async def send_text(self, text: str) -> None:
        await self.base_send({"type": "websocket.send", "text": text})

    async def send_texts(self, texts: list[str]) -> None:
        if len(texts) > 1 and SEND_MANY in self.scope.get("extensions", {}):
            await self.base_send({"type": SEND_MANY, "texts": texts})  # one transport write for all
        else:
            await super().send_texts(texts)


class UnknownRouteConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = "hub-local-fan-out"

    async def connect(self) -> None:
        await self.close(code=4004)
