"""Reads of deliverables and hook configurations, with the contract's 404 messages and order."""

from __future__ import annotations

from django.db.models import QuerySet

from orchestra_site.api.exceptions import NotFound
from projects.models import Deliverable, DeliverableStatus, HookNode, Node, NodeType

NODE_NOT_FOUND = "Node not found"
HOOK_NODE_NOT_FOUND = "Hook node not found"
HOOK_CONFIG_NOT_FOUND = "Hook configuration not found"
# The statuses of a deliverable a hook looks at: produced, or already passed.
CHECKABLE_STATUSES = (DeliverableStatus.COMPLETED, DeliverableStatus.VALIDATED)


def node_in_project(*, project_id: int, node_id: int, message: str = NODE_NOT_FOUND) -> Node:
    """The node if it belongs to the project; a missing project is the same 404 as a missing node."""
    node = Node.objects.filter(pk=node_id, project_id=project_id).first()
    if node is None:
        raise NotFound(message)
    return node


def deliverable_list(*, project_id: int, node_id: int, status: str | None = None) -> QuerySet[Deliverable]:
    """Newest first, ties by id descending; ``status`` (exact; empty means all) filters."""
    node_in_project(project_id=project_id, node_id=node_id)
    deliverables = Deliverable.objects.filter(node_id=node_id)
    if status:
        deliverables = deliverables.filter(status=status)
    return deliverables.order_by("-created_at", "-id")


def deliverable_get(*, project_id: int, node_id: int, deliverable_id: int) -> Deliverable:
    """404 ``Deliverable not found`` (no such id under that node), then ``Node not found`` (the
    node is not in the project)."""
    deliverable = Deliverable.objects.select_related("node").filter(pk=deliverable_id, node_id=node_id).first()
    if deliverable is None:
        raise NotFound("Deliverable not found")
    if deliverable.node.project_id != project_id:
        raise NotFound(NODE_NOT_FOUND)
    return deliverable


def newest_checkable_by_name(node_id: int) -> dict[str, Deliverable]:
    """The node's newest completed or validated deliverable of each name, newest first."""
    newest_ids: dict[str, int] = {}
    rows = Deliverable.objects.filter(node_id=node_id, status__in=CHECKABLE_STATUSES).order_by("-created_at", "-id")
    for deliverable_id, name in rows.values_list("id", "name"):  # older runs' contents are never loaded
        newest_ids.setdefault(name, deliverable_id)
    loaded = Deliverable.objects.in_bulk(list(newest_ids.values()))
    return {name: loaded[deliverable_id] for name, deliverable_id in newest_ids.items() if deliverable_id in loaded}


def hook_node_get(*, project_id: int, node_id: int) -> Node:
    """A node of the project whose type is ``hook``: else 404 ``Hook node not found``."""
    node = Node.objects.filter(pk=node_id, project_id=project_id, node_type=NodeType.HOOK).first()
    if node is None:
        raise NotFound(HOOK_NODE_NOT_FOUND)
    return node


def hook_get(*, project_id: int, node_id: int) -> HookNode:
    """404 ``Hook node not found``, then ``Hook configuration not found``."""
    node = hook_node_get(project_id=project_id, node_id=node_id)
    hook = HookNode.objects.filter(node_id=node.pk).first()
    if hook is None:
        raise NotFound(HOOK_CONFIG_NOT_FOUND)
    return hook
