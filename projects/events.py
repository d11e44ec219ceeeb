"""The project socket's events, sent through ``orchestra_site.realtime.events``.

Only services call these, inside their transaction; the frames leave after commit.
"""

from __future__ import annotations

from typing import TypedDict

from orchestra_site.realtime.events import broadcast_event, project_group
from projects.models import Run
from projects.selectors import NodeData

NODE_CREATED = "node.created"
NODE_UPDATED = "node.updated"
NODE_DELETED = "node.deleted"
RUN_CREATED = "run.created"
RUN_UPDATED = "run.updated"


class NodeDeletedData(TypedDict):
    id: int


class RunEventData(TypedDict):
    id: int
    node_id: int
    status: str


def run_event_data(run: Run) -> RunEventData:
    return {"id": run.pk, "node_id": run.node_id, "status": run.status}


def send_node_created(node: NodeData) -> None:
    broadcast_event(project_group(node["project_id"]), NODE_CREATED, dict(node))


def send_node_updated(node: NodeData) -> None:
    broadcast_event(project_group(node["project_id"]), NODE_UPDATED, dict(node))


def send_node_deleted(*, project_id: int, node_id: int) -> None:
    data: NodeDeletedData = {"id": node_id}
    broadcast_event(project_group(project_id), NODE_DELETED, dict(data))


def send_run_created(run: Run) -> None:
    broadcast_event(project_group(run.project_id), RUN_CREATED, dict(run_event_data(run)))


def send_run_updated(run: Run) -> None:
    broadcast_event(project_group(run.project_id), RUN_UPDATED, dict(run_event_data(run)))
