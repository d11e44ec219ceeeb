"""The one module that sends events to WebSocket clients.

Services call ``broadcast()`` inside their transaction; the frame goes out only after the
transaction commits, and only once, whatever called the service (API, admin, runner, command).

Delivery crosses processes on every deployment:
- with Redis (``ORCHESTRA_REDIS_URL``) the channel layer itself reaches every process;
- with the in-memory layer the frame is also written to ``OutboxEvent`` in the same transaction,
  and every ``serve`` process relays the rows other processes wrote (``orchestra_site.relay``),
  so ``prune_workspaces`` or ``runagents`` run beside ``serve`` still reach its clients.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from orchestra_site.models import OutboxEvent

# Identifies this process's rows in the outbox, so its relay skips what it already delivered.
PROCESS_ID = uuid.uuid4().hex
FRAME_MESSAGE_TYPE = "hub.frame"
GLOBAL_GROUP = "orchestration.global"

logger = logging.getLogger(__name__)


class _LoopDispatcher:
    """Sends frames one after another on the consumers' loop, so their order is kept.

    Threads (request handlers, the runner) hand frames over with ``call_soon_threadsafe``; the
    in-memory layer's queues belong to that loop and must never be touched from another one.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.task = loop.create_task(self.run())

    def submit(self, group: str, message: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (group, message))

    async def run(self) -> None:
        layer = get_channel_layer()
        while True:
            group, message = await self.queue.get()
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.exception("could not send a frame to %s", group)


_dispatcher: _LoopDispatcher | None = None


def workspace_group(path: str) -> str:
    """Group names allow only a few characters and 100 of them, so paths are hashed."""
    return "workspace." + hashlib.sha256(path.encode()).hexdigest()[:40]


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def execution_group(execution_id: int) -> str:
    return f"execution.{execution_id}"


def layer_is_shared() -> bool:
    return bool(settings.REDIS_URL)


def bind_event_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Deliver frames on ``loop``, the loop the WebSocket consumers live on. Call it on that loop."""
    global _dispatcher
    if _dispatcher is None or _dispatcher.loop is not loop or _dispatcher.task.done():
        _dispatcher = _LoopDispatcher(loop)


def encode_frame(frame: dict[str, Any]) -> str:
    return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":"))


def broadcast(group: str, frame: dict[str, Any], *, version: int | None = None) -> None:
    """Send ``frame`` to every socket in ``group`` once the current transaction commits.

    Frames that carry a ``version`` are delivered to a socket only if newer than the last one it
    got for that group (``HubConsumer.hub_frame``): commits in different threads or processes may
    reach the layer out of order, and clients must see versions strictly increase.
    """
    text = encode_frame(frame)
    if not layer_is_shared():
        OutboxEvent.objects.create(origin=PROCESS_ID, group=group, text=text, version=version)
    transaction.on_commit(lambda: deliver_local(group, text, version))


def broadcast_event(group: str, event: str, data: dict[str, Any]) -> None:
    """The ``{"event": NAME, "data": {...}}`` frames of the orchestration and project sockets."""
    broadcast(group, {"event": event, "data": data}, version=data.get("version"))


def frame_message(group: str, text: str, version: int | None) -> dict[str, Any]:
    return {"type": FRAME_MESSAGE_TYPE, "group": group, "text": text, "version": version}


def deliver_local(group: str, text: str, version: int | None = None) -> None:
    """Hand a frame to this process's channel layer, from any thread."""
    message = frame_message(group, text, version)
    dispatcher = _dispatcher
    if dispatcher is not None and dispatcher.loop.is_running() and not dispatcher.loop.is_closed():
        dispatcher.submit(group, message)
        return
    async_to_sync(get_channel_layer().group_send)(group, message)
