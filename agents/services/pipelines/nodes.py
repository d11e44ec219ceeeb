"""The pipeline's writes to its node and its deliverables.

A node's status moves by compare-and-set from the statuses the pipeline expects (a user who set the
status by hand meanwhile keeps it), and every move sends the full ``node.updated``.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from projects import events as project_events
from projects.models import Node

NEEDS_REVIEW = "needs_review"
ACTIVE_NODE_STATUSES = ("in_progress", NEEDS_REVIEW)


def node_status_move(*, node_id: int | None, status: str, expect: Iterable[str] | None = None) -> bool:
    """``expect → status`` (any status when ``expect`` is None); True when the node moved."""
    if node_id is None:
        return False
    rows = Node.objects.filter(pk=node_id)
    if expect is not None:
        rows = rows.filter(status__in=list(expect))
    if not rows.exclude(status=status).update(status=status, updated_at=timezone.now()):
        return False
    node = Node.objects.get(pk=node_id)
    project_events.send_node_updated(node)
    return True


def deliverable_add(*, node_id: int | None, execution_id: int, type: str, name: str, content: str) -> None:
    """A ``completed`` deliverable of the node (``deliverable.created`` and ``node.updated`` on commit)."""
    if node_id is None:
        return
    from projects.services.deliverables import deliverable_create  # type: ignore[import-not-found]

    node = Node.objects.get(pk=node_id)
    deliverable_create(
        node=node, type=type, name=name, content=content, status="completed", execution_id=execution_id
    )
