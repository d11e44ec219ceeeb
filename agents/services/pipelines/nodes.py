"""The pipeline's writes to its node and its deliverables.

A node's status moves by compare-and-set from the statuses the pipeline expects
(``projects.services.node_set_status``: a user who set the status by hand meanwhile keeps it), and
every move sends the full ``node.updated``. Deliverables go through
``projects.services.deliverables.deliverable_create`` (``deliverable.created``, then the full
``node.updated``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from projects.models import Node, NodeStatus
from projects.services.deliverables import deliverable_create
from projects.services.node_status import node_set_status

NEEDS_REVIEW = NodeStatus.NEEDS_REVIEW.value
ACTIVE_NODE_STATUSES = (NodeStatus.IN_PROGRESS.value, NEEDS_REVIEW)
CUT_NOTE = "\n\n[… cut by the hub: longer than ORCHESTRA_DELIVERABLE_MAX_BYTES]"


def node_status_move(*, node_id: int | None, status: str, expect: Iterable[str] | None = None) -> bool:
    """``expect → status`` (any status when ``expect`` is None); True when the node moved."""
    node = Node.objects.filter(pk=node_id).first() if node_id is not None else None
    if node is None or node.status == status:
        return False
    return node_set_status(node=node, status=status, expected=None if expect is None else list(expect))


def deliverable_add(*, node_id: int | None, execution_id: int, type: str, name: str, content: str) -> None:
    """A ``completed`` deliverable of the node, its content cut to the hub's limit."""
    node = Node.objects.filter(pk=node_id).first() if node_id is not None else None
    if node is None:
        return
    deliverable_create(
        node=node,
        type=type,
        name=name,
        content=fit(content, settings.DELIVERABLE_MAX_BYTES),
        status="completed",
        execution_id=execution_id,
    )


def fit(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(CUT_NOTE.encode("utf-8")))
    return data[:room].decode("utf-8", "ignore") + CUT_NOTE
