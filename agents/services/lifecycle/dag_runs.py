"""How a DAG run moves: advanced by every runner's loop, cancelled by its client; the one module that
changes its nodes' and its own status.

``dag_run_advance`` is called by every runner's loop (and so resumes running DAG runs after a
restart). It locks the run's row (skipping a run locked by another), so advancers on several
machines take turns without waiting on each other, and every status
change is still a compare-and-set on the old status. One pass:

1. follow the executions of queued and running nodes: ``running``, ``completed``, or, when the
   execution failed, ``waiting`` again for a retry after ``retry_backoff_seconds * 2^(attempt-1)``
   (until ``max_retries``) or ``failed`` for good. An execution whose agent was interrupted by its
   runner (crash, hub stop) is retried at once and gives its attempt back;
2. skip the waiting nodes that have a failed, skipped or cancelled parent (their project node
   becomes ``blocked``);
3. start the waiting nodes whose parents all completed: each becomes one queued execution (or,
   best of N, ``attempts`` executions followed together: the try succeeds when all have finished
   and one completed) that the runners take under the workspace's ``desired`` and ``ORCHESTRA_MAX_RUNNING`` slots;
4. end the run: ``completed`` when every node completed, ``failed`` once nothing can run any more.

A node's prompt ends with its parents' results (``agents.prompts.parent_results``).

``dag_run_cancel`` ends the run: its unfinished nodes become ``cancelled`` and their executions are
cancelled (which stops their agents).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents import events
from agents.models import (
    DAG_NODE_ACTIVE,
    DAG_NODE_DEAD_END,
    DAG_RUN_ACTIVE,
    EXECUTION_ACTIVE,
    DagNodeStatus,
    DagRun,
    DagRunNode,
    DagRunStatus,
    Execution,
    ExecutionStatus,
    StepRun,
)
from agents.selectors import dag_run_get
from agents.services.lifecycle.create import dag_node_executions_build
from agents.services.lifecycle.executions import execution_cancel
from orchestra_site.api.exceptions import Conflict
from orchestra_site.models_update import update_rows
from projects.models import Node, NodeStatus
from projects.services import node_update

INTERRUPTED = "the runner stopped while the agent ran; retried without using an attempt"


def dag_runs_advance() -> int:
    """Advance every active DAG run; the number of executions started."""
    started = 0
    for dag_run_id in DagRun.objects.filter(status__in=DAG_RUN_ACTIVE).order_by("id").values_list("pk", flat=True):
        started += dag_run_advance(dag_run_id=dag_run_id)
    return started


@transaction.atomic
def dag_run_advance(*, dag_run_id: int) -> int:
    """One pass over one run (see the module docstring); the number of executions started."""
    # SKIP LOCKED: a run another runner is advancing is skipped this cycle, never waited for: a
    # runner cut off while holding the lock must not freeze the others (its session ends after
    # ``ORCHESTRA_DB_IDLE_IN_TRANSACTION_TIMEOUT``). SQLite has one writer at a time anyway.
    dag_run = (
        DagRun.objects.select_for_update(skip_locked=True).filter(pk=dag_run_id, status__in=DAG_RUN_ACTIVE).first()
    )
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
    moved = update_rows(DagRunNode.objects.filter(pk=run_node.pk, status=old), now=now, status=new, **values)
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
    rounds = _latest_rounds(watched)
    interrupted = set(
        StepRun.objects.filter(
            execution__in=[e.pk for executions in rounds.values() for e in executions], crashed=True
        ).values_list("execution_id", flat=True)
    )
    changed = False
    for run_node in watched:
        execution = _round_outcome(rounds.get(run_node.pk, []), interrupted)
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
            # An agent stopped by its budget is not retried (another try would spend again), nor is a
            # best-of-N try one of whose attempts was.
            retry = not any(e.status == ExecutionStatus.BUDGET_EXCEEDED for e in rounds.get(run_node.pk, []))
            if retry and run_node.attempts <= dag_run.max_retries:
                retry_at = now + timedelta(seconds=dag_run.retry_delay_seconds(run_node.attempts))
                waiting = DagNodeStatus.WAITING
                changed |= _move(run_node, run_node.status, waiting, now, not_before=retry_at, error=error)
            elif _move(run_node, run_node.status, DagNodeStatus.FAILED, now, error=error):
                _set_node_status(run_node.node, NodeStatus.FAILED)
                changed = True
    return changed


def _latest_rounds(run_nodes: list[DagRunNode]) -> dict[int, list[Execution]]:
    """Each node's latest try: its last execution, or every attempt of its last best-of-N group."""
    rounds: dict[int, list[Execution]] = {}
    for execution in Execution.objects.filter(dag_run_node__in=[rn.pk for rn in run_nodes]).order_by("id"):
        node_round = rounds.setdefault(execution.dag_run_node_id, [])  # type: ignore[arg-type]
        if not (node_round and execution.attempt_group and node_round[-1].attempt_group == execution.attempt_group):
            node_round.clear()  # a newer try replaces the older one
        node_round.append(execution)
    return rounds


def _round_outcome(attempts: list[Execution], interrupted: set[int]) -> Execution | None:
    """The execution that says how a try went: a running one while any runs, else a completed one
    (the try succeeded once every attempt has finished), else an interrupted one (retried at once),
    else the first that failed or spent its budget (a discarded attempt says least)."""
    if not attempts:
        return None
    for wanted in (
        lambda e: e.status in EXECUTION_ACTIVE,
        lambda e: e.status == ExecutionStatus.COMPLETED,
        lambda e: e.pk in interrupted and e.status == ExecutionStatus.FAILED,
    ):
        chosen = sorted((e for e in attempts if wanted(e)), key=lambda e: e.status != ExecutionStatus.RUNNING)
        if chosen:
            return chosen[0]
    return sorted(attempts, key=lambda e: e.status == ExecutionStatus.DISCARDED)[0]


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
        dag_node_executions_build(dag_run, run_node)
        _set_node_status(node, NodeStatus.IN_PROGRESS)
        started += 1
    return started


def _settle(dag_run: DagRun, run_nodes: list[DagRunNode], now: datetime) -> bool:
    statuses = {rn.status for rn in run_nodes}
    if not statuses & set(DAG_NODE_ACTIVE):
        final = DagRunStatus.COMPLETED if statuses <= {DagNodeStatus.COMPLETED} else DagRunStatus.FAILED
        return bool(
            update_rows(
                DagRun.objects.filter(pk=dag_run.pk, status__in=DAG_RUN_ACTIVE), now=now, status=final, finished_at=now
            )
        )
    return bool(
        update_rows(
            DagRun.objects.filter(pk=dag_run.pk, status=DagRunStatus.PENDING),
            now=now,
            status=DagRunStatus.RUNNING,
            started_at=now,
        )
    )


@transaction.atomic
def dag_run_cancel(*, project_id: int, dag_run_id: int) -> DagRun:
    """Cancel the run: nodes not finished become ``cancelled`` and their agents are stopped."""
    dag_run_get(project_id=project_id, dag_run_id=dag_run_id)
    dag_run = DagRun.objects.select_for_update().get(pk=dag_run_id)
    now = timezone.now()
    cancelled = update_rows(
        DagRun.objects.filter(pk=dag_run_id, status__in=DAG_RUN_ACTIVE),
        now=now,
        status=DagRunStatus.CANCELLED,
        finished_at=now,
    )
    if not cancelled:
        raise Conflict("DAG run already finished")
    for run_node in DagRunNode.objects.filter(dag_run_id=dag_run_id, status__in=DAG_NODE_ACTIVE).select_related("node"):
        if not _move(run_node, run_node.status, DagNodeStatus.CANCELLED, now):
            continue
        active = Execution.objects.filter(dag_run_node=run_node, status__in=EXECUTION_ACTIVE)
        for execution_id in active.values_list("pk", flat=True):
            execution_cancel(project_id=project_id, execution_id=execution_id)
        if run_node.node.status == NodeStatus.IN_PROGRESS:
            node_update(project_id=project_id, node_id=run_node.node_id, changes={"status": NodeStatus.PENDING})
    dag_run.refresh_from_db()
    events.send_dag_run_updated(dag_run)
    return dag_run
