"""Tasks: top level, optionally linked to a project and one of its nodes. No events."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from django.db import transaction
from django.utils import timezone

from orchestra_site.api.exceptions import InvalidInput, NotFound
from orchestra_site.models_update import model_update
from projects.models import Node, Project, Task


class TaskChanges(TypedDict, total=False):
    title: str
    description: str | None
    completed: bool
    priority: int
    due_date: datetime | None
    project_id: int | None
    node_id: int | None


TASK_FIELDS = ("title", "description", "completed", "priority", "due_date", "project_id", "node_id")


@transaction.atomic
def task_create(
    *,
    title: str,
    description: str | None = None,
    completed: bool = False,
    priority: int = 0,
    due_date: datetime | None = None,
    project_id: int | None = None,
    node_id: int | None = None,
) -> Task:
    """The project is not filled in from the node."""
    _check_task_links(project_id=project_id, node_id=node_id, check_project=True, check_node=True)
    now = timezone.now()
    return Task.objects.create(
        title=title,
        description=description,
        completed=completed,
        priority=priority,
        due_date=due_date,
        project_id=project_id,
        node_id=node_id,
        created_at=now,
        updated_at=now,
    )


@transaction.atomic
def task_update(*, task_id: int, changes: TaskChanges) -> Task:
    """A new node must belong to the project the task ends up with; a new project must hold the task's node."""
    task = Task.objects.select_for_update().filter(pk=task_id).first()
    if task is None:
        raise NotFound("Task not found")
    project_id = changes["project_id"] if "project_id" in changes else task.project_id
    node_id = changes["node_id"] if "node_id" in changes else task.node_id
    _check_task_links(
        project_id=project_id,
        node_id=node_id,
        check_project="project_id" in changes,
        check_node="node_id" in changes or "project_id" in changes,
    )
    task, _ = model_update(task, data=changes, fields=TASK_FIELDS)
    return task


@transaction.atomic
def task_delete(*, task_id: int) -> None:
    deleted, _ = Task.objects.filter(pk=task_id).delete()
    if not deleted:
        raise NotFound("Task not found")


def _check_task_links(*, project_id: int | None, node_id: int | None, check_project: bool, check_node: bool) -> None:
    if check_project and project_id is not None and not Project.objects.filter(pk=project_id).exists():
        raise InvalidInput("Project not found")
    if check_node and node_id is not None:
        node_project = Node.objects.filter(pk=node_id).values_list("project_id", flat=True).first()
        if node_project is None:
            raise InvalidInput("Node not found")
        if project_id is not None and node_project != project_id:
            raise InvalidInput("Node does not belong to project")
