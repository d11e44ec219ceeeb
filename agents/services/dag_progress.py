"""How a DAG run moves forward: the one module that changes its nodes' and its own status.

``dag_run_advance`` is called by every runner's loop (and so resumes running DAG runs after a
restart). It locks the run's row, so advancers on several machines take turns, and every status
change is still a compare-and-set on the old status. One pass:

1. follow the executions of queued and running nodes: ``running``, ``completed``, or, when the
   execution failed, ``waiting`` again for a retry after ``retry_backoff_seconds * 2^(attempt-1)``
   (until ``max_retries``) or ``failed`` for good. An execution whose agent was interrupted by its
   runner (crash, hub stop) is retried at once and gives its attempt back;
2. skip the waiting nodes that have a failed, skipped or cancelled parent (their project node
   becomes ``blocked``);
3. start the waiting nodes whose parents all completed: each becomes one queued execution that
   the runners take under the workspace's ``desired`` and ``ORCHESTRA_MAX_RUNNING`` slots;
4. end the run: ``completed`` when every node completed, ``failed`` once nothing can run any more.

A node's prompt ends with its parents' results: the final output of each parent's latest
completed execution, each trimmed to ``PARENT_OUTPUT_CHARS`` characters.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents import events
from agents.models import (
    DAG_NODE_ACTIVE,
    DAG_NODE_DEAD_END,
    DAG_RUN_ACTIVE,
    DagNodeStatus,
    DagRun,
    DagRunNode,
    DagRunStatus,
    Execution,
    ExecutionStatus,
    StepRun,
    StepRunStatus,
)
from agents.prompts import launch_context
from agents.services.executions import execution_build
from projects.models import Node, NodeStatus
from projects.services import node_update

PARENT_OUTPUT_CHARS = 4000
INTERRUPTED = "the runner stopped while the agent ran; retried without using an attempt"


class ParentResult(TypedDict):
    node_id: int
    title: str
    output: str


def dag_runs_advance() -> int:
    """Advance every active DAG run; the number of executions started."""
    started = 0
    for dag_run_id in DagRun.objects.filter(status__in=DAG_RUN_ACTIVE).order_by("id").values_list("pk", flat=True):
        started += dag_run_advance(dag_run_id=dag_run_id)
    return started


@transaction.atomic
def dag_run_advance(*, dag_run_id: int) -> int:
    """One pass over one run (see the module docstring); the number of executions started."""
    dag_run = DagRun.objects.select_for_update().filter(pk=dag_run_id, status__in=DAG_RUN_ACTIVE).first()
    if dag_run is None:
        return 0
    run_nodes = list(DagRunNode.objects.filter(dag_run_id=dag_run.pk).select_related("node").order_by("id"))
    now = timezone.now()
    changed = _follow_executions(dag_run, run_nodes, now)
    changed = _skip_unreachable(run_nodes, now) or changed
    started = _start_ready(dag_run, run_nodes, now)
    changed = _settle(dag_run, run_nodes, now) or changed or started > 0
    if changed:
        dag_run.refresh_from_db()
        events.send_dag_run_updated(dag_run)
    return started


def _move(run_node: DagRunNode, old: str, new: str, now: datetime, **values: Any) -> bool:
    """Compare-and-set ``old → new``; the in-memory row follows when it moved."""
    moved = DagRunNode.objects.filter(pk=run_node.pk, status=old).update(status=new, updated_at=now, **values)
    if moved:
        run_node.status = new
        for key, value in values.items():
            if key != "attempts":
                setattr(run_node, key, value)
    return bool(moved)


def _set_node_status(node: Node, status: str) -> None:
    if node.status != status:
        node_update(project_id=node.project_id, node_id=node.pk, changes={"status": status})
        node.status = status


def _follow_executions(dag_run: DagRun, run_nodes: list[DagRunNode], now: datetime) -> bool:
    watched = [rn for rn in run_nodes if rn.status in (DagNodeStatus.QUEUED, DagNodeStatus.RUNNING)]
    if not watched:
        return False
    latest: dict[int, Execution] = {}
    for execution in Execution.objects.filter(dag_run_node__in=[rn.pk for rn in watched]).order_by("id"):
        latest[execution.dag_run_node_id] = execution  # type: ignore[index]
    interrupted = set(
        StepRun.objects.filter(execution__in=[e.pk for e in latest.values()], crashed=True).values_list(
            "execution_id", flat=True
        )
    )
    changed = False
    for run_node in watched:
        execution = latest.get(run_node.pk)
        if execution is None or (execution.status == ExecutionStatus.FAILED and execution.pk in interrupted):
            # Not the agent's fault: start again at once, and give the attempt back.
            if _move(
                run_node,
                run_node.status,
                DagNodeStatus.WAITING,
                now,
                attempts=F("attempts") - 1,
                not_before=None,
                error=INTERRUPTED,
            ):
                run_node.attempts -= 1
                changed = True
        elif execution.status == ExecutionStatus.RUNNING:
            changed |= _move(run_node, DagNodeStatus.QUEUED, DagNodeStatus.RUNNING, now)
        elif execution.status == ExecutionStatus.COMPLETED:
            if _move(run_node, run_node.status, DagNodeStatus.COMPLETED, now, error=None):
                _set_node_status(run_node.node, NodeStatus.COMPLETED)
                changed = True
        elif execution.is_finished:
            error = execution.error or f"execution {execution.pk} {execution.status}"
            if run_node.attempts <= dag_run.max_retries:
                retry_at = now + timedelta(seconds=dag_run.retry_delay_seconds(run_node.attempts))
                waiting = DagNodeStatus.WAITING
                changed |= _move(run_node, run_node.status, waiting, now, not_before=retry_at, error=error)
            elif _move(run_node, run_node.status, DagNodeStatus.FAILED, now, error=error):
                _set_node_status(run_node.node, NodeStatus.FAILED)
                changed = True
    return changed


def _skip_unreachable(run_nodes: list[DagRunNode], now: datetime) -> bool:
    """Waiting nodes below a dead end can never run: skipped here, ``blocked`` on the graph."""
    by_node = {rn.node_id: rn for rn in run_nodes}
    changed = True
    any_change = False
    while changed:  # a skip can make a grandchild skippable
        changed = False
        for run_node in run_nodes:
            if run_node.status != DagNodeStatus.WAITING:
                continue
            dead = [p for p in run_node.parent_ids if p in by_node and by_node[p].status in DAG_NODE_DEAD_END]
            if dead and _move(
                run_node,
                DagNodeStatus.WAITING,
                DagNodeStatus.SKIPPED,
                now,
                error=f"skipped: parent node {dead[0]} {by_node[dead[0]].status}",
            ):
                _set_node_status(run_node.node, NodeStatus.BLOCKED)
                changed = any_change = True
    return any_change


def _start_ready(dag_run: DagRun, run_nodes: list[DagRunNode], now: datetime) -> int:
    by_node = {rn.node_id: rn for rn in run_nodes}
    started = 0
    for run_node in run_nodes:
        if run_node.status != DagNodeStatus.WAITING or (run_node.not_before and run_node.not_before > now):
            continue
        # Parents outside the run (or deleted since) count as done.
        if any(by_node[p].status != DagNodeStatus.COMPLETED for p in run_node.parent_ids if p in by_node):
            continue
        node = run_node.node
        if dag_run.template_id is None and not node.agent_type:
            if _move(run_node, DagNodeStatus.WAITING, DagNodeStatus.FAILED, now, error="the node has no agent_type"):
                _set_node_status(node, NodeStatus.FAILED)
            continue
        if not _move(
            run_node, DagNodeStatus.WAITING, DagNodeStatus.QUEUED, now, attempts=F("attempts") + 1, not_before=None
        ):
            continue
        run_node.attempts += 1
        _create_execution(dag_run, run_node)
        _set_node_status(node, NodeStatus.IN_PROGRESS)
        started += 1
    return started


def _settle(dag_run: DagRun, run_nodes: list[DagRunNode], now: datetime) -> bool:
    statuses = {rn.status for rn in run_nodes}
    if not statuses & set(DAG_NODE_ACTIVE):
        final = DagRunStatus.COMPLETED if statuses <= {DagNodeStatus.COMPLETED} else DagRunStatus.FAILED
        return bool(
            DagRun.objects.filter(pk=dag_run.pk, status__in=DAG_RUN_ACTIVE).update(
                status=final, finished_at=now, updated_at=now
            )
        )
    return bool(
        DagRun.objects.filter(pk=dag_run.pk, status=DagRunStatus.PENDING).update(
            status=DagRunStatus.RUNNING, started_at=now, updated_at=now
        )
    )


# --- One node, one execution ---------------------------------------------------------------------


def _create_execution(dag_run: DagRun, run_node: DagRunNode) -> Execution:
    """The node's next attempt: ``template`` launched on it, or its own agent and prompt."""
    node = run_node.node
    parents = parent_results(node)
    context = launch_context(node, {"parents": parents})
    template = dag_run.template
    execution = execution_build(
        project=dag_run.project,
        node=node,
        template=template,
        context=context,
        metadata={"context": context, "dag_run_id": dag_run.pk, "_create_worktree": dag_run.create_worktree},
        create_worktree=dag_run.create_worktree,
        queued=True,
    )
    block = parents_block(parents)
    if template is None:
        StepRun.objects.create(
            execution=execution,
            name=node.title[:255],
            agent_type=node.agent_type,
            prompt=node_prompt(node) + block,
        )
    elif block:
        for step_run in StepRun.objects.filter(execution=execution, parents__isnull=True):
            step_run.prompt += block
            step_run.save(update_fields=["prompt"])
    Execution.objects.filter(pk=execution.pk).update(dag_run_node=run_node)
    execution.dag_run_node = run_node
    events.send_execution_status(execution)
    return execution


def node_prompt(node: Node) -> str:
    """A node's own task: its prompt, or its title and description when it has none."""
    if node.prompt and node.prompt.strip():
        return node.prompt
    return "\n\n".join(part for part in (node.title, node.description) if part)


def parent_results(node: Node) -> list[ParentResult]:
    """Each parent's final output: the last step to finish in its latest completed execution."""
    results: list[ParentResult] = []
    for parent in Node.objects.filter(child_edges__child=node).order_by("id"):
        output = (
            StepRun.objects.filter(
                execution__node=parent, execution__status=ExecutionStatus.COMPLETED, status=StepRunStatus.COMPLETED
            )
            .order_by("-execution_id", "-finished_at", "-id")
            .values_list("output", flat=True)
            .first()
        )
        if output is not None:
            results.append({"node_id": parent.pk, "title": parent.title, "output": trim_output(output)})
    return results


def trim_output(output: str, limit: int = PARENT_OUTPUT_CHARS) -> str:
    if len(output) <= limit:
        return output
    return output[:limit] + f"\n[… {len(output) - limit} more characters not shown]"


def parents_block(parents: list[ParentResult]) -> str:
    """What is appended to a node's prompt: one section per parent with a result."""
    if not parents:
        return ""
    sections = [f"## {p['title']} (node {p['node_id']})\n{p['output']}" for p in parents]
    return "\n\n---\nResults of the tasks this one builds on:\n\n" + "\n\n".join(sections) + "\n"
