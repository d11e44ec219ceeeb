"""Starting and cancelling a run of a project's whole DAG (``/projects/{pid}/dag-runs``).

``dag_run_create`` checks everything before it writes anything: the nodes exist in the project,
each can run (an ``agent_type`` of its own, or the template), and the nodes form no cycle. The
runners then move the run, and ``dag_run_cancel`` ends it (``agents.services.lifecycle.dag_runs``;
importable from here too, as the views call it).
"""

from __future__ import annotations

from collections import deque

from django.db import transaction

from agents import events, selectors
from agents.budgets import refuse_when_daily_budget_spent
from agents.models import (
    MAX_ATTEMPTS,
    AgentTemplate,
    DagRun,
    DagRunNode,
)
from agents.services.lifecycle import dag_run_cancel
from agents.wakeup import wake_runners_on_commit
from orchestra_site.api.exceptions import InvalidInput
from projects.models import Node, NodeEdge, NodeStatus

MAX_RETRIES = 5

__all__ = ["MAX_RETRIES", "dag_run_cancel", "dag_run_create"]


@transaction.atomic
def dag_run_create(
    *,
    project_id: int,
    node_ids: list[int] | None = None,
    template_id: int | None = None,
    max_retries: int = 1,
    retry_backoff_seconds: int = 10,
    create_worktree: bool = False,
    max_budget_usd: float | None = None,
    attempts: int = 1,
) -> DagRun:
    """Store a pending DAG run of ``node_ids`` (default: every runnable node not yet completed)."""
    project = selectors.project_get(project_id, for_update=True)
    refuse_when_daily_budget_spent(workspace_path=project.workspace_path)
    if not 0 <= max_retries <= MAX_RETRIES:
        raise InvalidInput(f"max_retries: must be from 0 to {MAX_RETRIES}, got {max_retries}.")
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise InvalidInput(f"attempts: must be from 1 to {MAX_ATTEMPTS}, got {attempts}.")
    if retry_backoff_seconds < 0:
        raise InvalidInput(f"retry_backoff_seconds: must be 0 or more, got {retry_backoff_seconds}.")
    template = None
    if template_id is not None:
        template = AgentTemplate.objects.filter(pk=template_id).first()
        if template is None:
            raise InvalidInput(f"template_id: template {template_id} not found")
    nodes = _chosen_nodes(project_id=project_id, node_ids=node_ids)
    if template is None:
        for node in nodes:
            if not node.agent_type:
                raise InvalidInput(
                    f"node_ids: node {node.pk} ({node.title!r}) has no agent_type; give it one or pass template_id"
                )
    parents = _parents_within(nodes)
    _refuse_cycle(parents)
    dag_run = DagRun.objects.create(
        project=project,
        template=template,
        max_retries=max_retries,
        retry_backoff_seconds=retry_backoff_seconds,
        create_worktree=create_worktree,
        max_budget_usd=max_budget_usd,
        attempts=attempts,
    )
    DagRunNode.objects.bulk_create(
        DagRunNode(dag_run=dag_run, node=node, parent_ids=parents[node.pk]) for node in nodes
    )
    events.send_dag_run_created(dag_run)
    wake_runners_on_commit()
    return dag_run


def _chosen_nodes(*, project_id: int, node_ids: list[int] | None) -> list[Node]:
    in_project = Node.objects.filter(project_id=project_id).order_by("id")
    if node_ids is None:
        nodes = list(
            in_project.exclude(agent_type__isnull=True).exclude(agent_type="").exclude(status=NodeStatus.COMPLETED)
        )
        if not nodes:
            raise InvalidInput("node_ids: no node to run (every node is completed or has no agent_type)")
        return nodes
    if not node_ids:
        raise InvalidInput("node_ids: must name at least one node")
    wanted = list(dict.fromkeys(node_ids))
    found = {node.pk: node for node in in_project.filter(pk__in=wanted)}
    for node_id in wanted:
        if node_id not in found:
            raise InvalidInput(f"node_ids: node {node_id} not found in this project")
    return [found[node_id] for node_id in sorted(wanted)]


def _parents_within(nodes: list[Node]) -> dict[int, list[int]]:
    """Each node's parents among ``nodes``: parents left out of the run count as done."""
    chosen = {node.pk for node in nodes}
    parents: dict[int, list[int]] = {node_id: [] for node_id in chosen}
    edges = NodeEdge.objects.filter(child_id__in=chosen, parent_id__in=chosen).order_by("child_id", "parent_id")
    for parent, child in edges.values_list("parent_id", "child_id"):
        parents[child].append(parent)
    return parents


def _refuse_cycle(parents: dict[int, list[int]]) -> None:
    """Kahn's algorithm; a node it cannot order lies on (or below) a cycle and is named."""
    waiting = {node: len(ps) for node, ps in parents.items()}
    children: dict[int, list[int]] = {node: [] for node in parents}
    for child, ps in parents.items():
        for parent in ps:
            children[parent].append(child)
    ready = deque(node for node, count in waiting.items() if count == 0)
    while ready:
        for child in children[ready.popleft()]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    stuck = sorted(node for node, count in waiting.items() if count > 0)
    if stuck:
        raise InvalidInput(f"node_ids: node {stuck[0]} is part of a cycle ({', '.join(map(str, stuck))})")
