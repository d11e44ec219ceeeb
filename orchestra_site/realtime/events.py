"""The one module that sends events to WebSocket clients.

Services call ``broadcast()`` inside their transaction; the frame goes out only after the
transaction commits, and only once, whatever called the service (API, admin, runner, command).

How a frame travels:
- It is encoded once. Each process keeps its own sockets by group (``EventHub``) and writes the
  text to each of them directly: a fan-out to 1000 sockets is one loop, not 1000 channel-layer
  messages.
- With Redis (``ORCHESTRA_REDIS_URL``) the frame goes to the Redis group once; every process that
  has sockets in that group is in it with one channel of its own and fans out locally.
- With the in-memory layer the frame is also written to ``OutboxEvent`` in the same transaction,
  and every ``serve`` relays the rows other processes wrote (``orchestra_site.realtime.relay``), so
  ``prune_workspaces`` or ``runagents`` run beside ``serve`` still reach its clients.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from orchestra_site import wakeups
from orchestra_site.models import OutboxEvent

if TYPE_CHECKING:
    from orchestra_site.realtime.consumers import FrameSubscriber

logger = logging.getLogger(__name__)

# Identifies this process's rows in the outbox, so its relay skips what it already delivered.
PROCESS_ID = uuid.uuid4().hex
FRAME_MESSAGE_TYPE = "hub.frames"
GLOBAL_GROUP = "orchestration.global"
# Redis drops a group member it has not seen re-added for a day (group_expiry): refresh well before.
GROUP_REFRESH_SECONDS = 600
# At most one fan-out per tick: frames committed within a tick of the last fan-out go out together,
# each socket's in one write (``EventHub.send_loop``).
FAN_OUT_TICK = 0.005

Frame = tuple[str, "int | None"]  # encoded text, version


def workspace_group(path: str) -> str:
    """Group names allow only a few characters and 100 of them, so paths are hashed."""
    return "workspace." + hashlib.sha256(path.encode()).hexdigest()[:40]


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def execution_group(execution_id: int) -> str:
    return f"execution.{execution_id}"


def layer_is_shared() -> bool:
    return bool(settings.REDIS_URL)


def encode_frame(frame: dict[str, Any]) -> str:
    return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":"))


def broadcast(group: str, frame: dict[str, Any], *, version: int | None = None) -> None:
    """Send ``frame`` to every socket in ``group`` once the current transaction commits.

    Frames that carry a ``version`` reach a socket only if newer than the last one it got for
    that group (``FrameSubscriber``): commits in different threads or processes may arrive out of
    order, and clients must see versions strictly increase.
    """
    broadcast_many(group, [(frame, version)])


def broadcast_many(group: str, frames: list[tuple[dict[str, Any], int | None]]) -> None:
    """Several frames for one group, in order, as one message (a batch of log lines)."""
    broadcast_groups([(group, frames)])


def broadcast_groups(batches: list[tuple[str, list[tuple[dict[str, Any], int | None]]]]) -> None:
    """Frames for several groups from one change, delivered group after group in this order.

    On the in-memory layer all their outbox rows are one INSERT (ids in this order).
    """
    encoded: list[tuple[str, list[Frame]]] = [
        (group, [(encode_frame(frame), version) for frame, version in frames]) for group, frames in batches if frames
    ]
    if not encoded:
        return
    if not layer_is_shared():
        OutboxEvent.objects.bulk_create(
            OutboxEvent(origin=PROCESS_ID, group=group, text=text, version=version)
            for group, texts in encoded
            for text, version in texts
        )
        # Other processes' relays read them once this commits; this one delivered them itself.
        wakeups.wake_on_commit(wakeups.OUTBOX, here_at_once=False)

    def deliver_all() -> None:
        for group, texts in encoded:
            deliver(group, texts)

    transaction.on_commit(deliver_all)


def broadcast_event(group: str, event: str, data: dict[str, Any]) -> None:
    """The ``{"event": NAME, "data": {...}}`` frames of the orchestration and project sockets."""
    broadcast_events([(group, event, data)])


def broadcast_events(events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Several ``{"event", "data"}`` frames of one change (group, event name, data), in this order."""
    broadcast_groups(
        [(group, [({"event": event, "data": data}, data.get("version"))]) for group, event, data in events]
    )


def deliver(group: str, frames: list[Frame]) -> None:
    """Hand committed frames to this process's hub, from any thread."""
    hub = _hub
    if hub is not None and hub.loop.is_running() and not hub.loop.is_closed():
        hub.submit(group, frames)
    elif layer_is_shared():
        # No sockets in this process (a command, runagents): Redis carries it to the others.
        try:
            async_to_sync(get_channel_layer().group_send)(group, frame_message(group, frames))
        except Exception:  # the change is committed; clients catch up from snapshots when Redis is back
            layer_state.failed()
        else:
            layer_state.answered()


class LayerState:
    """Whether Redis answers, so an outage is one warning and one recovery line, not a flood.

    While it is down, senders try it again at most once per ``RETRY_SECONDS`` (a send that fails
    alone, with the receiving side fine, must not leave the process talking only to itself).
    """

    RETRY_SECONDS = 1.0

    def __init__(self) -> None:
        self.down = False
        self.retry_at = 0.0

    def worth_trying(self) -> bool:
        return not self.down or time.monotonic() >= self.retry_at

    def failed(self) -> bool:
        """Record a failure; True the first time in an outage."""
        self.retry_at = time.monotonic() + self.RETRY_SECONDS
        if self.down:
            return False
        self.down = True
        logger.warning(
            "the channel layer (Redis at ORCHESTRA_REDIS_URL) does not answer: events reach only this "
            "process's sockets until it is back; clients get fresh snapshots then"
        )
        return True

    def answered(self) -> bool:
        """Record a success; True when it ends an outage."""
        if not self.down:
            return False
        self.down = False
        logger.warning("the channel layer answers again")
        return True


layer_state = LayerState()


def frame_message(group: str, frames: list[Frame]) -> dict[str, Any]:
    return {"type": FRAME_MESSAGE_TYPE, "group": group, "frames": [list(frame) for frame in frames]}


class EventHub:
    """The sockets of this process by group, living on the event loop the consumers run on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.members: dict[str, set[FrameSubscriber]] = defaultdict(set)
        self.outgoing: asyncio.Queue[tuple[str, list[Frame]]] = asyncio.Queue()
        self.layer = get_channel_layer() if layer_is_shared() else None
        self.channel: str | None = None
        self.ready = asyncio.Event()
        self.tasks = [loop.create_task(self.send_loop())]
        if self.layer is not None:
            self.tasks += [loop.create_task(self.receive_loop()), loop.create_task(self.refresh_loop())]
        else:
            self.ready.set()

    def submit(self, group: str, frames: list[Frame]) -> None:
        """Thread-safe: queue frames; they go out in the order they were submitted."""
        self.loop.call_soon_threadsafe(self.outgoing.put_nowait, (group, frames))

    async def join(self, group: str, consumer: FrameSubscriber) -> None:
        first = not self.members[group]
        self.members[group].add(consumer)
        if first and self.layer is not None:
            await self.ready.wait()
            try:
                await self.layer.group_add(group, self.channel)
            except Exception:  # rejoined with the others when the layer is back
                layer_state.failed()

    async def leave(self, group: str, consumer: FrameSubscriber) -> None:
        members = self.members.get(group)
        if not members:
            return
        members.discard(consumer)
        if not members:
            del self.members[group]
            if self.layer is not None and self.channel is not None:
                await self.layer.group_discard(group, self.channel)

    async def fan_out(self, group: str, frames: list[Frame]) -> None:
        await self.fan_out_many([(group, frames)])

    async def fan_out_many(self, items: list[tuple[str, list[Frame]]]) -> None:
        """Each socket gets all of its frames of ``items`` in one call, in order, so that it can
        write them at once (``realtime/send_many.py``). Never waits for one client: a socket that
        cannot take the frames now keeps them itself."""
        batches: dict[FrameSubscriber, list[tuple[str, list[Frame]]]] = {}
        for group, frames in items:
            for consumer in self.members.get(group, ()):
                batches.setdefault(consumer, []).append((group, frames))
        for consumer, batch in batches.items():
            consumer.deliver_batches(batch)

    async def send_loop(self) -> None:
        """Sends what was submitted, in order. A frame that finds the last fan-out a tick
        (``FAN_OUT_TICK``) or more ago goes out at once; one that comes sooner waits for the tick,
        and everything submitted by then goes in the same fan-out: every frame, in order, each
        socket's in one write (``realtime/send_many.py``).

        It replaces one fan-out per submitted frame. With 200 sockets listening, 20 agents
        streaming and 16 clients putting desired (docs/benchmarks.md, section 10), fan-outs then
        carried 1.3 PUTs' frames on average; with the tick the event loop spent 37% less CPU per
        PUT and the hub answered 1.4 to 1.5 times the PUTs a second (profiled runs, 04:06 and
        04:07 UTC, load average 6 to 8 from other work on the machine). An event waits at most
        the tick (5 ms) for it, and only while events come faster than that.
        """
        clock = asyncio.get_running_loop().time
        last = -FAN_OUT_TICK
        while True:
            waiting = [await self.outgoing.get()]
            if (wait := last + FAN_OUT_TICK - clock()) > 0:
                await asyncio.sleep(wait)
            last = clock()
            while not self.outgoing.empty():  # all that came meanwhile: one fan-out
                waiting.append(self.outgoing.get_nowait())
            local = []
            for group, frames in waiting:
                if self.layer is not None and layer_state.worth_trying():
                    try:
                        await self.layer.group_send(group, frame_message(group, frames))
                        layer_state.answered()
                        continue
                    except Exception:
                        layer_state.failed()
                local.append((group, frames))  # the in-memory layer, or Redis is away: our own sockets still get it
            try:
                await self.fan_out_many(local)
            except Exception:
                logger.exception("could not send frames to %s", sorted({group for group, _ in local}))

    async def receive_loop(self) -> None:
        assert self.layer is not None
        self.channel = await self.layer.new_channel()
        self.ready.set()
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                if stopping():
                    # Cancelled while Redis was answering: the client library may turn the
                    # cancellation into a connection error; going on would never stop.
                    raise asyncio.CancelledError from None
                layer_state.failed()
                await self.wait_for_layer()
                continue
            await self.fan_out(message["group"], [tuple(frame) for frame in message["frames"]])

    async def wait_for_layer(self) -> None:
        """Until Redis answers again: then rejoin every group (a restarted Redis forgot them) and
        send every socket a fresh snapshot of what it may have missed."""
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            try:
                await self.rejoin_groups()
            except Exception:
                if stopping():
                    raise asyncio.CancelledError from None
                delay = min(delay * 2, 5.0)
                continue
            layer_state.answered()
            logger.warning("sending every socket of this process a fresh snapshot")
            await self.resync_sockets()
            return

    async def rejoin_groups(self) -> None:
        assert self.layer is not None
        for group in list(self.members):
            await self.layer.group_add(group, self.channel)

    async def resync_sockets(self) -> None:
        for consumer in {consumer for members in list(self.members.values()) for consumer in members}:
            try:
                await consumer.resync()
            except Exception:
                logger.exception("could not send a fresh snapshot to a socket")

    async def refresh_loop(self) -> None:
        assert self.layer is not None
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            try:
                await self.rejoin_groups()
            except Exception:
                layer_state.failed()


def stopping() -> bool:
    """Whether the current task has been asked to stop (``Task.cancel()``), caught or not."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


_hub: EventHub | None = None


def bind_event_loop(loop: asyncio.AbstractEventLoop) -> EventHub:
    """The hub of ``loop`` (the consumers' loop), created on first use. Call it on that loop."""
    global _hub
    if _hub is None or _hub.loop is not loop or _hub.loop.is_closed():
        _hub = EventHub(loop)
    return _hub
