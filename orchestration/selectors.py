"""Reads that shape workspace data for the API, the consumer and the events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from orchestration.models import Totals, Workspace


@dataclass(frozen=True)
class WorkspaceState:
    path: str
    running: int
    desired: int
    version: int


@dataclass(frozen=True)
class GlobalState:
    running: int
    desired: int
    version: int


class WorkspaceObject(TypedDict):
    id: str
    workspace_id: str
    running: int
    desired: int


class GlobalObject(TypedDict):
    running: int
    desired: int


def global_state() -> GlobalState:
    row = Totals.objects.filter(pk=Totals.SINGLETON_ID).values("running", "desired", "version").first()
    return GlobalState(**row) if row else GlobalState(running=0, desired=0, version=0)


def workspace_state(path: str) -> WorkspaceState:
    """The workspace, or zeros for one the hub has never seen (nothing is created)."""
    row = Workspace.objects.filter(path=path).values("running", "desired", "version").first()
    return WorkspaceState(path=path, **row) if row else WorkspaceState(path=path, running=0, desired=0, version=0)


def workspace_states() -> list[WorkspaceState]:
    rows = Workspace.objects.order_by("path").values("path", "running", "desired", "version")
    return [WorkspaceState(**row) for row in rows]


def workspace_object(state: WorkspaceState) -> WorkspaceObject:
    """The contract's workspace object: the id under both keys the clients read."""
    return {"id": state.path, "workspace_id": state.path, "running": state.running, "desired": state.desired}


def global_object(state: GlobalState) -> GlobalObject:
    return {"running": state.running, "desired": state.desired}
