"""Reads that shape projects, nodes, tasks and runs into the contract's JSON objects.

The same dicts are the HTTP responses and the WebSocket payloads, so ``node.created`` is
byte-for-byte the node the POST answered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from orchestra_site.api.exceptions import NotFound
from projects.models import Node, NodeEdge, Project, Run, Task


class ResourceData(TypedDict):
    kind: str
    title: str
    url: str | None
    notes: str | None


class NodeMetadataData(TypedDict):
    resources: list[ResourceData]
    extra: dict[str, Any]
    deliverables: NotRequired[str]


class ProjectData(TypedDict):
    id: int
    name: str
    description: str | None
    workspace_path: str
    created_at: str
    updated_at: str


class NodeData(TypedDict):
    id: int
    project_id: int
    title: str
    description: str | None
    status: str
    agent_type: str | None
    prompt: str | None
    context: str | None
    metadata: NodeMetadataData
    position_x: float
    position_y: float
    parent_ids: list[int]
    created_at: str
    updated_at: str


class EdgeData(TypedDict):
    source_id: int
    target_id: int


class GraphData(TypedDict):
    nodes: list[NodeData]
    edges: list[EdgeData]


class TaskData(TypedDict):
    id: int
    project_id: int | None
    node_id: int | None
    title: str
    description: str | None
    completed: bool
    priority: int
    due_date: str | None
    created_at: str
    updated_at: str


class RunData(TypedDict):
    id: int
    project_id: int
    node_id: int
    agent_type: str
    prompt: str
    status: str
    output: str | None
    error: str | None
    metadata: dict[str, Any]
    started_at: str | None
    finished_at: str | None
    created_at: str
    updated_at: str


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, so JS ``new Date()`` shows local time correctly."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso(value: datetime) -> str:
    return iso(value) or ""


# --- Projects ---------------------------------------------------------------------------------


def project_get(project_id: int) -> Project:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise NotFound("Project not found")
    return project


def project_require(project_id: int) -> None:
    if not Project.objects.filter(pk=project_id).exists():
        raise NotFound("Project not found")


def project_list() -> list[Project]:
    return list(Project.objects.order_by("-created_at", "-id"))


def project_data(project: Project) -> ProjectData:
    return {
        "id": project.pk,
        "name": project.name,
        "description": project.description,
        "workspace_path": project.workspace_path,
        "created_at": _iso(project.created_at),
        "updated_at": _iso(project.updated_at),
    }


# --- Nodes and the graph ----------------------------------------------------------------------


def node_metadata(raw: Any) -> NodeMetadataData:
    """The stored metadata in the contract's shape, whatever an older row or the admin left there."""
    raw = raw if isinstance(raw, dict) else {}
    resources: list[ResourceData] = []
    for item in raw.get("resources") or []:
        if isinstance(item, dict):
            resources.append(
                {
                    "kind": str(item.get("kind", "")),
                    "title": str(item.get("title", "")),
                    "url": item.get("url"),
                    "notes": item.get("notes"),
                }
            )
    extra = raw.get("extra")
    metadata: NodeMetadataData = {"resources": resources, "extra": extra if isinstance(extra, dict) else {}}
    if isinstance(raw.get("deliverables"), str):
        metadata["deliverables"] = raw["deliverables"]
    return metadata


def node_get(*, project_id: int, node_id: int) -> Node:
    """The node under its project: 404 ``Project not found`` first, then ``Node not found``."""
    project_require(project_id)
    node = Node.objects.filter(pk=node_id, project_id=project_id).first()
    if node is None:
        raise NotFound("Node not found")
    return node


def node_parent_ids(node_id: int) -> list[int]:
    return list(NodeEdge.objects.filter(child_id=node_id).order_by("parent_id").values_list("parent_id", flat=True))


def node_data(node: Node, parent_ids: Iterable[int] | None = None) -> NodeData:
    """The full node; ``parent_ids`` is read (one query) unless the caller already has it."""
    parents = sorted(parent_ids) if parent_ids is not None else node_parent_ids(node.pk)
    return {
        "id": node.pk,
        "project_id": node.project_id,
        "title": node.title,
        "description": node.description,
        "status": node.status,
        "agent_type": node.agent_type,
        "prompt": node.prompt,
        "context": node.context,
        "metadata": node_metadata(node.metadata),
        "position_x": float(node.position_x),
        "position_y": float(node.position_y),
        "parent_ids": parents,
        "created_at": _iso(node.created_at),
        "updated_at": _iso(node.updated_at),
    }


def graph(project_id: int) -> GraphData:
    """Every node (ascending id) and one edge per parent link, in three queries whatever the size."""
    project_require(project_id)
    nodes = list(Node.objects.filter(project_id=project_id).order_by("id"))
    parents: dict[int, list[int]] = defaultdict(list)
    edges = NodeEdge.objects.filter(child__project_id=project_id).order_by("child_id", "parent_id")
    for parent_id, child_id in edges.values_list("parent_id", "child_id"):
        parents[child_id].append(parent_id)
    node_list = [node_data(node, parents.get(node.pk, [])) for node in nodes]
    edge_list: list[EdgeData] = [
        {"source_id": parent_id, "target_id": node["id"]} for node in node_list for parent_id in node["parent_ids"]
    ]
    return {"nodes": node_list, "edges": edge_list}


def node_list(project_id: int) -> list[NodeData]:
    """The project's nodes with their ``parent_ids``, ascending id (the graph without its edges)."""
    return graph(project_id)["nodes"]


# --- Tasks ------------------------------------------------------------------------------------


def task_get(task_id: int) -> Task:
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        raise NotFound("Task not found")
    return task


def task_list(
    *, project_id: int | None = None, node_id: int | None = None, completed: bool | None = None
) -> list[Task]:
    """Filters combine with AND; highest priority first, then newest."""
    tasks = Task.objects.all()
    if project_id is not None:
        tasks = tasks.filter(project_id=project_id)
    if node_id is not None:
        tasks = tasks.filter(node_id=node_id)
    if completed is not None:
        tasks = tasks.filter(completed=completed)
    return list(tasks.order_by("-priority", "-created_at", "-id"))


def task_data(task: Task) -> TaskData:
    return {
        "id": task.pk,
        "project_id": task.project_id,
        "node_id": task.node_id,
        "title": task.title,
        "description": task.description,
        "completed": task.completed,
        "priority": task.priority,
        "due_date": iso(task.due_date),
        "created_at": _iso(task.created_at),
        "updated_at": _iso(task.updated_at),
    }


# --- Runs -------------------------------------------------------------------------------------


def run_get(*, project_id: int, run_id: int) -> Run:
    project_require(project_id)
    run = Run.objects.filter(pk=run_id, project_id=project_id).first()
    if run is None:
        raise NotFound("Run not found")
    return run


def run_list(*, project_id: int, node_id: int | None = None) -> list[Run]:
    project_require(project_id)
    runs = Run.objects.filter(project_id=project_id)
    if node_id is not None:
        runs = runs.filter(node_id=node_id)
    return list(runs.order_by("-created_at", "-id"))


def run_data(run: Run) -> RunData:
    return {
        "id": run.pk,
        "project_id": run.project_id,
        "node_id": run.node_id,
        "agent_type": run.agent_type,
        "prompt": run.prompt,
        "status": run.status,
        "output": run.output,
        "error": run.error,
        "metadata": run.metadata if isinstance(run.metadata, dict) else {},
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "created_at": _iso(run.created_at),
        "updated_at": _iso(run.updated_at),
    }
