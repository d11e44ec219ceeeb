"""The orchestration events, as clients receive them. Sent through ``orchestra_site.realtime.events``."""

from __future__ import annotations

from typing import TypedDict

from orchestra_site.realtime.events import (
    GLOBAL_GROUP,
    broadcast_event,
    broadcast_events,
    encode_frame,
    workspace_group,
)
from orchestration.selectors import GlobalState, WorkspaceState

GLOBAL_EVENT = "orchestration.global"
WORKSPACE_EVENT = "orchestration.workspace"


class GlobalEventData(TypedDict):
    running: int
    desired: int
    version: int


class WorkspaceEventData(TypedDict):
    workspaceId: str
    workspace_id: str  # the same id, under the key NestJS-era clients read
    running: int
    desired: int
    version: int


def global_data(state: GlobalState) -> GlobalEventData:
    return {"running": state.running, "desired": state.desired, "version": state.version}


def workspace_data(state: WorkspaceState) -> WorkspaceEventData:
    return {
        "workspaceId": state.path,
        "workspace_id": state.path,
        "running": state.running,
        "desired": state.desired,
        "version": state.version,
    }


def send_global(state: GlobalState) -> None:
    broadcast_event(GLOBAL_GROUP, GLOBAL_EVENT, dict(global_data(state)))


def send_workspace(state: WorkspaceState) -> None:
    broadcast_event(workspace_group(state.path), WORKSPACE_EVENT, dict(workspace_data(state)))


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
