"""Reads of projects, nodes, tasks and runs: model instances and querysets, which the serializers
in ``projects.serializers`` turn into the contract's JSON (responses and events alike).

Each ``*_get`` raises ``NotFound`` with the contract's message; a child's parent project is
looked at only when the child is missing, so a found object costs one query.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from orchestra_site.api.exceptions import NotFound
from orchestra_site.api.serializers import to_json
from projects.fields import iso
from projects.models import Node, NodeEdge, Project, Run, Task
from projects.serializers import GraphSerializer, NodeMetadataSerializer

__all__ = [
    "Edge",
    "Graph",
    "graph",
    "iso",
    "node_get",
    "node_list",
    "node_metadata",
    "node_parent_ids",
    "project_get",
    "project_graph",
    "project_list",
    "project_require",
    "run_get",
    "run_list",
    "task_get",
    "task_list",
]


# --- Projects ---------------------------------------------------------------------------------


def project_get(project_id: int) -> Project:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        raise NotFound("Project not found")
    return project


def project_require(project_id: int) -> None:
    if not Project.objects.filter(pk=project_id).exists():
        raise NotFound("Project not found")


def project_list() -> QuerySet[Project]:
    """Newest first."""
    return Project.objects.order_by("-created_at", "-id")


# --- Nodes and the graph ----------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """One parent link: ``source_id`` must finish before ``target_id``."""

    source_id: int
    target_id: int


@dataclass(frozen=True)
class Graph:
    """A project's nodes (ascending id, each with its ``parent_ids``) and its edges, child by child."""

    nodes: list[Node]
    edges: list[Edge]


def node_metadata(raw: Any) -> dict[str, Any]:
    """The stored metadata in the contract's shape (the node serializer's ``metadata``)."""
    return to_json(NodeMetadataSerializer, raw)


def node_get(*, project_id: int, node_id: int) -> Node:
    """The node under its project: 404 ``Project not found`` first, then ``Node not found``."""
    node = Node.objects.filter(pk=node_id, project_id=project_id).first()
    if node is None:
        project_require(project_id)
        raise NotFound("Node not found")
    return node


def node_parent_ids(node_id: int) -> list[int]:
    return list(NodeEdge.objects.filter(child_id=node_id).order_by("parent_id").values_list("parent_id", flat=True))


def project_graph(project_id: int) -> Graph:
    """Every node and one edge per parent link, in three queries whatever the size."""
    project_require(project_id)
    nodes = list(Node.objects.filter(project_id=project_id).order_by("id"))
    links = NodeEdge.objects.filter(child__project_id=project_id).order_by("child_id", "parent_id")
    edges = [Edge(source_id=parent, target_id=child) for parent, child in links.values_list("parent_id", "child_id")]
    parents: dict[int, list[int]] = defaultdict(list)
    for edge in edges:
        parents[edge.target_id].append(edge.source_id)
    for node in nodes:
        node.parent_ids = parents.get(node.pk, [])
    return Graph(nodes=nodes, edges=edges)


def graph(project_id: int) -> dict[str, Any]:
    """The graph as JSON (``GraphSerializer``), for the console page that embeds it in a script tag."""
    return to_json(GraphSerializer, project_graph(project_id))


def node_list(project_id: int) -> list[Node]:
    """The project's nodes with their ``parent_ids``, ascending id (the graph without its edges)."""
    return project_graph(project_id).nodes


# --- Tasks ------------------------------------------------------------------------------------


def task_get(task_id: int) -> Task:
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        raise NotFound("Task not found")
    return task


def task_list(
    *, project_id: int | None = None, node_id: int | None = None, completed: bool | None = None
) -> QuerySet[Task]:
    """Filters combine with AND; highest priority first, then newest."""
    tasks = Task.objects.all()
    if project_id is not None:
        tasks = tasks.filter(project_id=project_id)
    if node_id is not None:
        tasks = tasks.filter(node_id=node_id)
    if completed is not None:
        tasks = tasks.filter(completed=completed)
    return tasks.order_by("-priority", "-created_at", "-id")


# --- Runs -------------------------------------------------------------------------------------


def run_get(*, project_id: int, run_id: int) -> Run:
    run = Run.objects.filter(pk=run_id, project_id=project_id).first()
    if run is None:
        project_require(project_id)
        raise NotFound("Run not found")
    return run


def run_list(*, project_id: int, node_id: int | None = None) -> QuerySet[Run]:
    """Newest first; ``NotFound`` when the project is missing."""
    project_require(project_id)
    runs = Run.objects.filter(project_id=project_id)
    if node_id is not None:
        runs = runs.filter(node_id=node_id)
    return runs.order_by("-created_at", "-id")
