"""Deliverables: the outputs a node produced, written by the pipeline and through the API alike.

A deliverable's ``execution`` must be an execution of the node's project. The agents app owns
executions and imports this app, so this module reads them through the app registry instead of
importing ``agents``.
"""

from __future__ import annotations

import unicodedata
from typing import TypedDict

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orchestra_site.api.exceptions import InvalidInput, NotFound
from orchestra_site.models_update import model_update
from projects import events
from projects.fields import is_storable_text
from projects.models import TITLE_MAX, Deliverable, DeliverableStatus, DeliverableType, Node

EXECUTION_NOT_FOUND = "Execution not found"


class DeliverableChanges(TypedDict, total=False):
    content: str
    status: str
    validation_errors: list[str]


DELIVERABLE_FIELDS = ("content", "status", "validation_errors")


@transaction.atomic
def deliverable_create(
    *,
    node: Node,
    type: str,
    name: str,
    content: str = "",
    status: str = "pending",
    execution_id: int | None = None,
) -> Deliverable:
    """Store one output of ``node``; after commit, ``deliverable.created`` then the full ``node.updated``.

    Raises ``InvalidInput`` (400) naming the field for a bad type, name, content or status, and
    ``Execution not found`` for an execution outside the node's project; ``NotFound`` if the node
    is gone. Nothing is written when it raises.
    """
    _check_choice("type", type, DeliverableType.values)
    _check_choice("status", status, DeliverableStatus.values)
    deliverable_name_check(name)
    deliverable_content_check(content)
    # Locks the node so it cannot be deleted between the check and the insert, and reads it fresh
    # for the node.updated payload (the caller's instance may be minutes old).
    current = Node.objects.select_for_update().filter(pk=node.pk).first()
    if current is None:
        raise NotFound("Node not found")
    if execution_id is not None:
        _check_execution(execution_id=execution_id, project_id=current.project_id)
    now = timezone.now()
    deliverable = Deliverable.objects.create(
        node=current,
        execution_id=execution_id,
        type=type,
        name=name,
        content=content,
        status=status,
        validation_errors=[],
        created_at=now,
        updated_at=now,
    )
    events.send_deliverable_created(deliverable, project_id=current.project_id)
    events.send_node_updated(current)
    return deliverable


@transaction.atomic
def deliverable_update(*, deliverable: Deliverable, changes: DeliverableChanges) -> Deliverable:
    """Change the keys present (compared with the stored row, not with ``deliverable``, which a
    form may have changed already); ``validation_errors`` replaces the list. No event."""
    if "status" in changes:
        _check_choice("status", changes["status"], DeliverableStatus.values)
    if "content" in changes:
        deliverable_content_check(changes["content"])
    if "validation_errors" in changes:
        errors = changes["validation_errors"]
        if not isinstance(errors, list) or not all(isinstance(item, str) for item in errors):
            raise InvalidInput("validation_errors: Must be a list of strings.")
    current = Deliverable.objects.select_for_update().filter(pk=deliverable.pk).first()
    if current is None:
        raise NotFound("Deliverable not found")
    updated, _ = model_update(current, data=dict(changes), fields=DELIVERABLE_FIELDS)
    return updated


@transaction.atomic
def deliverable_delete(*, deliverable: Deliverable) -> None:
    """Deleting one already gone is not an error. No event."""
    Deliverable.objects.filter(pk=deliverable.pk).delete()


def deliverable_name_check(name: str) -> None:
    """A label of at most 255 characters that could never act as a path: no ``/``, ``\\``, ``..``
    or control characters."""
    if not isinstance(name, str) or not name:
        raise InvalidInput("name: This field may not be blank.")
    if len(name) > TITLE_MAX:
        raise InvalidInput(f"name: Ensure this field has no more than {TITLE_MAX} characters.")
    if "/" in name or "\\" in name or ".." in name or not is_storable_text(name):
        raise InvalidInput("name: Must not contain '/', '\\', '..' or control characters.")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidInput("name: Must not contain '/', '\\', '..' or control characters.")


def deliverable_content_check(content: str) -> None:
    if not isinstance(content, str) or not is_storable_text(content):
        raise InvalidInput("content: Must be a string without NUL or lone surrogates.")
    limit = settings.DELIVERABLE_MAX_BYTES
    if len(content) > limit or len(content.encode("utf-8")) > limit:
        raise InvalidInput(f"content: Must be at most {limit} bytes (ORCHESTRA_DELIVERABLE_MAX_BYTES).")


def _check_choice(field: str, value: str, allowed: list[str]) -> None:
    if value not in allowed:
        raise InvalidInput(f'{field}: "{value}" is not a valid choice.')


def _check_execution(*, execution_id: int, project_id: int) -> None:
    execution_model = apps.get_model("agents", "Execution")
    if not execution_model.objects.filter(pk=execution_id, project_id=project_id).exists():
        raise InvalidInput(EXECUTION_NOT_FOUND)
