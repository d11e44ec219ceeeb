"""The orchestration events, as clients receive them. Sent through ``orchestra_site.realtime.events``.

The payloads are the event serializers of ``orchestration.serializers``, as the schema describes them.
"""

from __future__ import annotations

from typing import Any

from orchestra_site.realtime.events import (
    GLOBAL_GROUP,
    broadcast_event,
    broadcast_events,
    encode_frame,
    workspace_group,
)
from orchestration import serializers
from orchestration.selectors import GlobalState, WorkspaceState

GLOBAL_EVENT = "orchestration.global"
WORKSPACE_EVENT = "orchestration.workspace"


def global_data(state: GlobalState) -> dict[str, Any]:
    return serializers.GLOBAL_EVENT.to_representation(state)


def workspace_data(state: WorkspaceState) -> dict[str, Any]:
    return serializers.WORKSPACE_EVENT.to_representation(state)


def send_global(state: GlobalState) -> None:
    broadcast_event(GLOBAL_GROUP, GLOBAL_EVENT, global_data(state))


def send_workspace(state: WorkspaceState) -> None:
    broadcast_event(workspace_group(state.path), WORKSPACE_EVENT, workspace_data(state))


def send_change(totals: GlobalState, state: WorkspaceState) -> None:
    """Both events of one change (the totals first), with one outbox write on the in-memory layer."""
    broadcast_events(
        [
            (GLOBAL_GROUP, GLOBAL_EVENT, dict(global_data(totals))),
            (workspace_group(state.path), WORKSPACE_EVENT, dict(workspace_data(state))),
        ]
    )


def frame(event: str, data: object) -> str:
    """A frame for one socket only (answers to subscribe, errors)."""
    return encode_frame({"event": event, "data": data})
