"""The project socket's events, sent through ``orchestra_site.realtime.events``.

Only services call these, inside their transaction; the frames leave after commit. The payloads
are the serializers of ``projects.serializers``, so ``node.created`` is the node the POST answers.
"""

from __future__ import annotations

from orchestra_site.api.serializers import to_json
from orchestra_site.realtime.events import broadcast_event, project_group
from projects.deliverable_serializers import DeliverableCreatedEventSerializer
from projects.models import Deliverable, Node, Run
from projects.serializers import NodeSerializer, RunEventSerializer

NODE_CREATED = "node.created"
NODE_UPDATED = "node.updated"
NODE_DELETED = "node.deleted"
RUN_CREATED = "run.created"
RUN_UPDATED = "run.updated"
DELIVERABLE_CREATED = "deliverable.created"


def send_node_created(node: Node) -> None:
    broadcast_event(project_group(node.project_id), NODE_CREATED, to_json(NodeSerializer, node))


def send_node_updated(node: Node) -> None:
    broadcast_event(project_group(node.project_id), NODE_UPDATED, to_json(NodeSerializer, node))


def send_node_deleted(*, project_id: int, node_id: int) -> None:
    broadcast_event(project_group(project_id), NODE_DELETED, {"id": node_id})


def send_run_created(run: Run) -> None:
    broadcast_event(project_group(run.project_id), RUN_CREATED, to_json(RunEventSerializer, run))


def send_run_updated(run: Run) -> None:
    broadcast_event(project_group(run.project_id), RUN_UPDATED, to_json(RunEventSerializer, run))


def send_deliverable_created(deliverable: Deliverable, *, project_id: int) -> None:
    data = to_json(DeliverableCreatedEventSerializer, deliverable)
    broadcast_event(project_group(project_id), DELIVERABLE_CREATED, data)
