"""What clients change on executions and step runs: PATCH (``execution_update``, ``step_run_update``)
and cancel; and the Run that follows a hub-started execution.

Each status change is a compare-and-set on the status read in the same transaction, so nothing the
runner wrote in between is overwritten; timestamps are computed in SQL (``COALESCE``).
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone

from agents import events, selectors
from agents.git import validate_branch_name
from agents.logs import append_entries, status_frame
from agents.models import (
    EXECUTION_ACTIVE,
    EXECUTION_FINISHED,
    STEP_RUN_ACTIVE,
    STEP_RUN_FINISHED,
    Execution,
    ExecutionStatus,
    StepRun,
    StepRunStatus,
)
from agents.wakeup import wake_runners_on_commit
from orchestra_site.api.exceptions import Conflict
from orchestra_site.models_update import RowChanged, model_update, update_rows
from orchestra_site.timestamps import status_timestamps
from projects.models import RunStatus
from projects.services import run_update
from projects.workspaces import validate_worktree_path


class ExecutionChanges(TypedDict, total=False):
    status: str
    tmux_session: str | None
    worktree_path: str | None
    worktree_branch: str | None
    metadata: dict[str, Any] | None


class StepRunChanges(TypedDict, total=False):
    status: str
    output: str | None
    error: str | None
    metadata: dict[str, Any] | None


@transaction.atomic
def execution_update(*, project_id: int, execution_id: int, changes: ExecutionChanges) -> Execution:
    """Record what a client knows about an execution; never what is not true.

    A finished execution keeps its status, and one the hub's runner owns (launched) changes
    status only through its runner or ``execution_cancel``: a PATCH cannot mark a running agent
    completed. A worktree path must lie inside ``ORCHESTRA_WORKTREES_DIR``, and a worktree branch
    must be a branch name git accepts that cannot be read as an option (checked again before use).
    """
    execution = selectors.execution_get(project_id=project_id, execution_id=execution_id)
    values: dict[str, Any] = dict(changes)
    if "metadata" in values and "pipeline" in (execution.metadata or {}):
        raise Conflict("metadata: a pipeline's metadata is its state, written by the hub; it cannot be replaced.")
    if "metadata" in values and values["metadata"] is None:
        values["metadata"] = {}
    if values.get("worktree_path") is not None:
        values["worktree_path"] = str(validate_worktree_path(values["worktree_path"]))
    if values.get("worktree_branch") is not None:
        values["worktree_branch"] = validate_branch_name(values["worktree_branch"], field="worktree_branch")
    if "status" in values and values["status"] != execution.status:
        _check_status_change(
            finished=execution.is_finished, runner_owned=execution.queued, what="execution", cancel_hint=True
        )
        values.update(status_timestamps(values["status"], finished=EXECUTION_FINISHED))
    try:
        # Compare-and-set on the status read above: the runner may have moved it meanwhile.
        execution, _ = model_update(execution, data=values, fields=list(values), expect={"status": execution.status})
    except RowChanged:
        raise Conflict("status: the execution changed while this request ran; read it again and retry.") from None
    events.send_execution_updated(execution)
    return execution


@transaction.atomic
def step_run_update(*, project_id: int, execution_id: int, step_run_id: int, changes: StepRunChanges) -> StepRun:
    """As ``execution_update``: a finished step run, or one the runner owns, keeps its status."""
    step_run = selectors.step_run_get(project_id=project_id, execution_id=execution_id, step_run_id=step_run_id)
    values: dict[str, Any] = dict(changes)
    if "metadata" in values and values["metadata"] is None:
        values["metadata"] = {}
    if "status" in values and values["status"] != step_run.status:
        runner_owned = Execution.objects.filter(pk=execution_id, queued=True).exists()
        _check_status_change(finished=step_run.status in STEP_RUN_FINISHED, runner_owned=runner_owned, what="step run")
        values.update(status_timestamps(values["status"], finished=STEP_RUN_FINISHED))
    try:
        step_run, _ = model_update(step_run, data=values, fields=list(values), expect={"status": step_run.status})
    except RowChanged:
        raise Conflict("status: the step run changed while this request ran; read it again and retry.") from None
    events.send_step_run_updated(step_run, project_id=project_id)
    return step_run


def _check_status_change(*, finished: bool, runner_owned: bool, what: str, cancel_hint: bool = False) -> None:
    if finished:
        raise Conflict(f"status: the {what} already finished; it keeps its status.")
    if runner_owned:
        how = "stop it with POST .../cancel" if cancel_hint else "cancel its execution to stop it"
        raise Conflict(f"status: the hub's runner runs this {what} and records its status; {how}.")


@transaction.atomic
def execution_cancel(*, project_id: int, execution_id: int) -> Execution:
    """Cancel an active execution: it becomes ``cancelled``, its pending/running step runs ``skipped``.

    On commit the runner is woken; it sees the cancelled row and stops the processes it started.
    """
    selectors.execution_get(project_id=project_id, execution_id=execution_id)
    now = timezone.now()
    cancelled = update_rows(
        Execution.objects.filter(pk=execution_id, status__in=EXECUTION_ACTIVE),
        now=now,
        status=ExecutionStatus.CANCELLED,
        finished_at=now,
    )
    if not cancelled:
        raise Conflict("Execution already finished")
    active = list(
        StepRun.objects.filter(execution_id=execution_id, status__in=STEP_RUN_ACTIVE).values_list("pk", flat=True)
    )
    update_rows(
        StepRun.objects.filter(pk__in=active, status__in=STEP_RUN_ACTIVE),
        now=now,
        status=StepRunStatus.SKIPPED,
        finished_at=now,
    )
    execution = Execution.objects.get(pk=execution_id)
    events.send_execution_updated(execution)
    for step_run in StepRun.objects.filter(pk__in=active, status=StepRunStatus.SKIPPED, finished_at=now):
        events.send_step_run_updated(step_run, project_id=project_id)
    append_entries(
        execution_id=execution_id,
        step_run_id=None,
        frames=[status_frame(execution_id=execution_id, status=execution.status)],
    )
    run_follow_execution(execution)
    if "pipeline" in (execution.metadata or {}):
        from agents.services.pipelines.review import pipeline_cancelled

        pipeline_cancelled(execution)
    wake_runners_on_commit()
    return execution


def run_follow_execution(execution: Execution) -> None:
    """A Run started by the hub follows its execution's status (cancel included)."""
    if execution.run_id is None:
        return
    # The statuses share their names, but for two the desktop's RunStatus lacks: a discarded attempt
    # was cancelled, and a Run whose agent spent its budget failed.
    status: str = execution.status
    if status == ExecutionStatus.DISCARDED:
        status = RunStatus.CANCELLED
    elif status == ExecutionStatus.BUDGET_EXCEEDED:
        status = RunStatus.FAILED
    changes: dict[str, Any] = {"status": status}
    if status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED):
        step = execution.step_runs.order_by("-id").first()  # after a follow-up message, its answer
        changes["output"] = step.output if step else None
        changes["error"] = (step.error if step else None) or execution.error
    run_update(project_id=execution.project_id, run_id=execution.run_id, changes=changes)  # type: ignore[arg-type]
