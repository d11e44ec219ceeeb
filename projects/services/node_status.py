"""A node's status changed by the hub itself (a pipeline's phases, its review, its end).

The API's PATCH goes through ``node_update``; workers call ``node_set_status``, which is a
compare-and-set so a worker never overwrites a status a person set meanwhile.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction
from django.utils import timezone

from orchestra_site.api.exceptions import InvalidInput
from projects import events
from projects.models import Node, NodeStatus


@transaction.atomic
def node_set_status(*, node: Node, status: str, expected: Collection[str] | None = None) -> bool:
    """Set ``node``'s status if it is still one of ``expected`` (any status when ``None``).

    Returns whether the row was written; ``False`` when the node is gone or its status is not
    expected. On a write, ``node`` is refreshed and the full node goes out as ``node.updated``
    after commit.
    """
    if status not in NodeStatus.values:
        raise InvalidInput(f'status: "{status}" is not a valid choice.')
    rows = Node.objects.filter(pk=node.pk)
    if expected is not None:
        rows = rows.filter(status__in=list(expected))
    if not rows.update(status=status, updated_at=timezone.now()):
        return False
    node.refresh_from_db()
    events.send_node_updated(node)
    return True
