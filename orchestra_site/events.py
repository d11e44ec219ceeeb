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

_hub_loop: asyncio.AbstractEventLoop | None = None


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
    """Remember the loop the WebSocket consumers live on, so threads can hand frames to it."""
    global _hub_loop
    _hub_loop = loop


def encode_frame(frame: dict[str, Any]) -> str:
    return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":"))


def broadcast(group: str, frame: dict[str, Any]) -> None:
    """Send ``frame`` to every socket in ``group`` once the current transaction commits."""
    text = encode_frame(frame)
    if not layer_is_shared():
        OutboxEvent.objects.create(origin=PROCESS_ID, group=group, text=text)
    transaction.on_commit(lambda: deliver_local(group, text))


def broadcast_event(group: str, event: str, data: dict[str, Any]) -> None:
    """The ``{"event": NAME, "data": {...}}`` frames of the orchestration and project sockets."""
    broadcast(group, {"event": event, "data": data})


def deliver_local(group: str, text: str) -> None:
    """Hand a frame to this process's channel layer, from any thread."""
    message = {"type": FRAME_MESSAGE_TYPE, "text": text}
    loop = _hub_loop
    if loop is not None and loop.is_running() and not loop.is_closed():
        coroutine = get_channel_layer().group_send(group, message)
        if _running_loop() is loop:
            loop.create_task(coroutine)
        else:
            # The in-memory layer's queues belong to the consumers' loop: never touch them
            # from another thread's loop, or a waiting consumer may never wake up.
            asyncio.run_coroutine_threadsafe(coroutine, loop)
        return
    async_to_sync(get_channel_layer().group_send)(group, message)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
