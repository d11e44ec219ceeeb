"""Reads of workspaces and the totals, for the API, the consumer, the console and the events.

``WorkspaceState`` and ``GlobalState`` are what the services return (built from the columns an
``UPDATE … RETURNING`` gives back, without reading the row again); the serializers in
``orchestration.serializers`` turn them, or ``Workspace`` rows, into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

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


def global_state() -> GlobalState:
    row = Totals.objects.filter(pk=Totals.SINGLETON_ID).values("running", "desired", "version").first()
    return GlobalState(**row) if row else GlobalState(running=0, desired=0, version=0)


def workspace_state(path: str) -> WorkspaceState:
    """The workspace, or zeros for one the hub has never seen (nothing is created)."""
    row = Workspace.objects.filter(path=path).values("running", "desired", "version").first()
    return WorkspaceState(path=path, **row) if row else WorkspaceState(path=path, running=0, desired=0, version=0)


def workspace_list() -> QuerySet[Workspace]:
    """Every workspace, by path."""
    return Workspace.objects.order_by("path").only("path", "running", "desired", "version")
