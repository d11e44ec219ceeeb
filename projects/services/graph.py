"""Projects, their nodes and the plan draft.

Edits to a project's graph lock the project row first, so two concurrent PATCHes can never
together close a cycle the check saw neither of. Events go out after commit (``projects.events``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from orchestra_site.api.exceptions import InvalidInput, NotFound, ServiceUnavailable
from orchestra_site.db import writes_serialised
from orchestra_site.models_insert import Check, insert_if_counts
from orchestra_site.models_update import model_update
from orchestration.services import workspace_ensure, workspace_unpin
from projects import events, planning, selectors
from projects.dag import find_cycle
from projects.models import Node, NodeEdge, NodeStatus, NodeType, Project
from projects.planning import PlanData, PlanError, ResourceData
from projects.workspaces import default_workspace_path, make_workspace_dir, validate_workspace_path

PARENTS_NOT_FOUND = "One or more parent nodes not found"


class ProjectChanges(TypedDict, total=False):
    name: str
    description: str | None
    workspace_path: str
    worktree_by_default: bool


class NodeChanges(TypedDict, total=False):
    title: str
    description: str | None
    status: str
    agent_type: str | None
    prompt: str | None
    context: str | None
    metadata: dict[str, Any] | None
    node_type: str | None
    expected_deliverables: list[dict[str, Any]]
    position_x: float
    position_y: float
    parent_ids: list[int] | None


PROJECT_FIELDS = ("name", "description", "workspace_path", "worktree_by_default")
NODE_FIELDS = (
    "title",
    "description",
    "status",
    "agent_type",
    "prompt",
    "context",
    "metadata",
    "node_type",
    "expected_deliverables",
    "position_x",
    "position_y",
)


# --- Projects ---------------------------------------------------------------------------------


@transaction.atomic
def project_create(
    *, name: str, description: str | None = None, workspace_path: str | None = None, worktree_by_default: bool = False
) -> Project:
    """Create the project, its workspace folder and its pinned orchestration workspace."""
    given = validate_workspace_path(workspace_path, project_id=None) if workspace_path is not None else None
    now = timezone.now()
    project = Project.objects.create(
        name=name,
        description=description,
        workspace_path=str(given or ""),
        worktree_by_default=worktree_by_default,
        created_at=now,
        updated_at=now,
    )
    path = given or default_workspace_path(project.pk)
    if given is None:
        project.workspace_path = str(path)
        Project.objects.filter(pk=project.pk).update(workspace_path=project.workspace_path)
    _ensure_workspace(path=path)
    return project


@transaction.atomic
def project_update(*, project_id: int, changes: ProjectChanges) -> Project:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise NotFound("Project not found")
    previous = project.workspace_path
    data: dict[str, Any] = dict(changes)
    if data.get("workspace_path") is not None:
        path = validate_workspace_path(data["workspace_path"], project_id=project_id)
        data["workspace_path"] = str(path)
        _ensure_workspace(path=path)
    else:
        data.pop("workspace_path", None)
    model_update(project, data=data, fields=PROJECT_FIELDS)
    if data.get("workspace_path", previous) != previous:
        _release_workspace(path=previous)
    return selectors.project_get(project_id)


@transaction.atomic
def project_delete(*, project_id: int) -> None:
    """Nodes, edges, tasks, runs (and the agents app's executions) go with it. No event."""
    path = Project.objects.filter(pk=project_id).values_list("workspace_path", flat=True).first()
    if path is None:
        raise NotFound("Project not found")
    Project.objects.filter(pk=project_id).delete()
    _release_workspace(path=path)


def _release_workspace(*, path: str) -> None:
    """Let prune remove a workspace once no project uses it (its desired stays until then)."""
    if not Project.objects.filter(workspace_path=path).exists():
        workspace_unpin(path=path)


def _ensure_workspace(*, path: Path) -> None:
    make_workspace_dir(path)
    workspace_ensure(path=str(path), desired=settings.DEFAULT_DESIRED)


# --- Nodes ------------------------------------------------------------------------------------


@transaction.atomic
def node_create(
    *,
    project_id: int,
    title: str,
    description: str | None = None,
    status: str = NodeStatus.PENDING,
    agent_type: str | None = None,
    prompt: str | None = None,
    context: str | None = None,
    metadata: dict[str, Any] | None = None,
    node_type: str | None = NodeType.TASK,
    expected_deliverables: list[dict[str, Any]] | None = None,
    position_x: float = 0.0,
    position_y: float = 0.0,
    parent_ids: Sequence[int] = (),
) -> Node:
    """One ``INSERT`` that checks the project and the parents as it writes (see ``_insert_node``)."""
    if not writes_serialised():
        _project_shared_lock(project_id)
    parents = list(parent_ids)
    now = timezone.now()
    node = Node(
        project_id=project_id,
        title=title,
        description=description,
        status=status,
        agent_type=agent_type,
        prompt=prompt,
        context=context,
        metadata=metadata if metadata is not None else {"resources": [], "extra": {}},
        node_type=node_type,
        expected_deliverables=list(expected_deliverables or []),
        position_x=position_x,
        position_y=position_y,
        created_at=now,
        updated_at=now,
    )
    _insert_node(node, parents=parents)
    NodeEdge.objects.bulk_create([NodeEdge(parent_id=parent, child_id=node.pk) for parent in parents])
    node.parent_ids = parents
    events.send_node_created(node)
    return node


@transaction.atomic
def node_update(*, project_id: int, node_id: int, changes: NodeChanges) -> Node:
    """Change only the keys present; ``metadata`` replaces (None keeps it), ``parent_ids`` replaces the set."""
    _locked_project(project_id)
    node = selectors.node_get(project_id=project_id, node_id=node_id)
    new_parents = changes.get("parent_ids")
    if new_parents is not None:
        parents = _checked_parents(project_id=project_id, parent_ids=new_parents)
        _refuse_cycle(project_id=project_id, node_id=node_id, parents=parents)
        NodeEdge.objects.filter(child_id=node_id).exclude(parent_id__in=parents).delete()
        existing = set(NodeEdge.objects.filter(child_id=node_id).values_list("parent_id", flat=True))
        NodeEdge.objects.bulk_create(
            [NodeEdge(parent_id=parent, child_id=node_id) for parent in parents if parent not in existing]
        )
    data: dict[str, Any] = dict(changes)
    if data.get("metadata", ...) is None:
        del data["metadata"]
    if new_parents is not None:
        data["updated_at"] = timezone.now()  # the links are part of the node: a new set is a change
    node, _ = model_update(node, data=data, fields=(*NODE_FIELDS, "updated_at"))
    events.send_node_updated(node)
    return node


@transaction.atomic
def node_delete(*, project_id: int, node_id: int) -> None:
    """Its edges, runs and tasks go with it; children lose it from ``parent_ids`` without an event."""
    _locked_project(project_id)
    node = selectors.node_get(project_id=project_id, node_id=node_id)
    node.delete()
    events.send_node_deleted(project_id=project_id, node_id=node_id)


def node_parents_check(*, project_id: int, node_id: int | None, parent_ids: Sequence[int]) -> None:
    """Raise ``InvalidInput`` if these parents are not allowed (the admin form asks before saving)."""
    parents = _checked_parents(project_id=project_id, parent_ids=parent_ids)
    if node_id is not None:
        _refuse_cycle(project_id=project_id, node_id=node_id, parents=parents)


def _locked_project(project_id: int) -> Project:
    project = Project.objects.select_for_update().filter(pk=project_id).first()
    if project is None:
        raise NotFound("Project not found")
    return project


def _project_shared_lock(project_id: int) -> None:
    """Wait for any graph edit of the project in progress and keep new ones out until commit.

    Edits that change the graph's shape (parents replaced, a node deleted) lock the project row
    ``FOR UPDATE``; a node creation only needs them kept out, not other creations, so it takes the
    row ``FOR SHARE`` and concurrent creations in one project run side by side. A missing project
    is found by the ``INSERT``'s own check.
    """
    table = connection.ops.quote_name(Project._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {_column(Project, 'id')} = %s FOR SHARE", [project_id])


def _insert_node(node: Node, *, parents: list[int]) -> None:
    """Insert ``node`` only if its project exists and every parent is a node of it, once.

    The checks are part of the ``INSERT`` (``insert_if_counts``), so a create costs no query for
    them; only a refused one asks which check failed, to answer 404 before 400 as before. On
    PostgreSQL the caller has locked the project row first (``_project_shared_lock``): the parents
    are then counted in a statement that starts after any concurrent graph edit committed.
    """
    if len(set(parents)) == len(parents) and insert_if_counts(node, counts=_node_checks(node.project_id, parents)):
        return
    selectors.project_require(node.project_id)
    raise InvalidInput(PARENTS_NOT_FOUND)


def _node_checks(project_id: int, parents: list[int]) -> list[Check]:
    """The project's row, and one row per parent that is a node of that project."""
    project_sql, parents_sql = _node_check_statements(connection.vendor)
    checks: list[Check] = [(project_sql, [project_id], 1)]
    if parents:
        marks = ", ".join(["%s"] * len(parents))
        checks.append((f"{parents_sql} IN ({marks})", [project_id, *parents], len(parents)))
    return checks


@functools.cache
def _node_check_statements(vendor: str) -> tuple[str, str]:
    """The two checks' ``SELECT``s (the second without its ``IN`` list), written once per database."""
    projects, nodes = (connection.ops.quote_name(model._meta.db_table) for model in (Project, Node))
    return (
        f"SELECT 1 FROM {projects} WHERE {_column(Project, 'id')} = %s",
        f"SELECT 1 FROM {nodes} WHERE {_column(Node, 'project')} = %s AND {_column(Node, 'id')}",
    )


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column
    return connection.ops.quote_name(field.column)


def _checked_parents(*, project_id: int, parent_ids: Sequence[int]) -> list[int]:
    parents = list(parent_ids)
    found = Node.objects.filter(project_id=project_id, pk__in=parents).count()
    if len(set(parents)) != len(parents) or found != len(parents):
        raise InvalidInput(PARENTS_NOT_FOUND)
    return parents


def _refuse_cycle(*, project_id: int, node_id: int, parents: list[int]) -> None:
    children: dict[int, list[int]] = defaultdict(list)
    edges = NodeEdge.objects.filter(child__project_id=project_id).exclude(child_id=node_id)
    for parent, child in edges.values_list("parent_id", "child_id"):
        children[parent].append(child)
    cycle = find_cycle(node=node_id, new_parents=parents, children=children)
    if cycle is not None:
        raise InvalidInput("parent_ids: would create a cycle: " + " -> ".join(str(n) for n in cycle))


# --- Plan -------------------------------------------------------------------------------------


def plan_generate(*, project_id: int, prompt: str, resources: list[ResourceData] | None) -> PlanData:
    """Ask the planner for a draft; nothing is stored.

    Deliberately not atomic: the planner is an agent that may take minutes, and no transaction
    (on SQLite: the write lock) may be held meanwhile.
    """
    selectors.project_require(project_id)
    text = planning.run_planner(prompt, resources or [])
    try:
        return planning.parse_plan_json(text)
    except PlanError as exc:
        raise ServiceUnavailable(f"The planner answered with an unusable plan: {exc}") from None
