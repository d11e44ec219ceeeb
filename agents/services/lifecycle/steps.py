"""The runner's side of a step run: claim, finish, and what follows (skip, settle, fail stuck).

A step run is *ready* when its execution is queued and active and every parent completed. To
start it a runner, in one transaction, reserves a running slot of the workspace (a conditional
UPDATE: ``running < desired`` and the hub under ``ORCHESTRA_MAX_RUNNING``) and moves the step run
``pending → running`` with its id; if either fails, nothing happened. Finishing releases the slot
exactly once (``slot_path`` is cleared by the same compare-and-set that releases it).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents import events
from agents.models import EXECUTION_ACTIVE, Execution, ExecutionStatus, StepRun, StepRunStatus
from agents.services.lifecycle.executions import run_follow_execution
from orchestra_site import wakeups
from orchestra_site.models_update import update_rows
from orchestration.services import workspace_release_slot, workspace_reserve_slot

NOT_COMPLETED = (
    StepRunStatus.PENDING,
    StepRunStatus.RUNNING,
    StepRunStatus.FAILED,
    StepRunStatus.SKIPPED,
    StepRunStatus.BUDGET_EXCEEDED,
)
DEAD_ENDS = (StepRunStatus.FAILED, StepRunStatus.SKIPPED, StepRunStatus.BUDGET_EXCEEDED)
CYCLE_ERROR = "cannot run: these steps depend on each other in a cycle"


@dataclass(frozen=True)
class StepOutcome:
    status: str  # completed | failed | budget_exceeded
    output: str | None = None
    error: str | None = None
    exit_code: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    duration_ms: int | None = None
    session_id: str | None = None
    crashed: bool = False


def step_run_claim(*, step_run: StepRun, runner_id: int) -> bool:
    """Reserve a slot in the step's workspace and take the step; False when either is refused."""
    path = step_run.execution.workspace_path
    with transaction.atomic():
        if not workspace_reserve_slot(path=path, global_cap=settings.MAX_RUNNING):
            return False
        now = timezone.now()  # inside the transaction: after any wait for the database's lock
        taken = update_rows(
            StepRun.objects.filter(pk=step_run.pk, status=StepRunStatus.PENDING),
            now=now,
            status=StepRunStatus.RUNNING,
            runner_id=runner_id,
            started_at=now,
            slot_path=path,
        )
        if not taken:
            transaction.set_rollback(True)  # another runner was faster: give the slot back
            return False
        step_run.refresh_from_db()
        events.send_step_run_updated(step_run, project_id=step_run.execution.project_id)
        started = update_rows(
            Execution.objects.filter(pk=step_run.execution_id, status=ExecutionStatus.PENDING),
            now=now,
            status=ExecutionStatus.RUNNING,
            started_at=now,
        )
        if started:
            execution = Execution.objects.get(pk=step_run.execution_id)
            events.send_execution_updated(execution)
            events.send_execution_status(execution)
            run_follow_execution(execution)
    return True


def step_run_record_pid(*, step_run_id: int, pid: int) -> None:
    StepRun.objects.filter(pk=step_run_id).update(pid=pid)


def step_run_finish(*, step_run_id: int, outcome: StepOutcome, runner_id: int | None = None) -> StepRun:
    """Write the outcome (if the step is still running, on ``runner_id`` when it is given), free
    its slot, and settle the execution."""
    running = StepRun.objects.filter(pk=step_run_id, status=StepRunStatus.RUNNING)
    if runner_id is not None:
        running = running.filter(runner_id=runner_id)  # a step taken over is no longer this runner's to end
    with transaction.atomic():
        now = timezone.now()
        update_rows(
            running,
            now=now,
            status=outcome.status,
            output=outcome.output,
            error=outcome.error,
            exit_code=outcome.exit_code,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
            cost_usd=outcome.cost_usd,
            duration_ms=outcome.duration_ms,
            session_id=outcome.session_id,
            crashed=outcome.crashed,
            finished_at=now,
        )
        others = StepRun.objects.filter(pk=step_run_id, status=StepRunStatus.RUNNING).exclude(runner_id=runner_id)
        if runner_id is None or not others.exists():  # a slot taken over is the runner's that runs it now
            release_slot(step_run_id)
        step_run = StepRun.objects.select_related("execution").get(pk=step_run_id)
        events.send_step_run_updated(step_run, project_id=step_run.execution.project_id)
        if step_run.is_message and step_run.status == outcome.status:
            events.send_execution_message_answer(step_run, project_id=step_run.execution.project_id)
        execution_settle(execution_id=step_run.execution_id)
        # Its children may be ready now, its slot is free: every runner looks, this one on equal
        # terms with its peers (through the database), so runners share the work.
        wakeups.wake_on_commit(wakeups.WORK, here_at_once=False)
    return step_run


def release_slot(step_run_id: int) -> None:
    row = StepRun.objects.filter(pk=step_run_id, slot_path__isnull=False).values_list("slot_path", flat=True).first()
    if row is None:
        return
    if StepRun.objects.filter(pk=step_run_id, slot_path=row).update(slot_path=None):
        workspace_release_slot(path=row)
        wakeups.wake_on_commit(wakeups.CAPACITY, here_at_once=False)


def step_runs_skip_unreachable(*, execution_id: int) -> None:
    """Pending steps that can never run (a parent failed or was skipped) are skipped, all the
    way down, each naming the parent that stopped it."""
    now = timezone.now()
    while True:
        blocked = list(
            StepRun.objects.filter(
                execution_id=execution_id,
                status=StepRunStatus.PENDING,
                parents__status__in=DEAD_ENDS,
            )
            .values_list("pk", "parents__name", "parents__status")
            .order_by("pk")
        )
        if not blocked:
            return
        reasons: dict[int, str] = {}
        for pk, parent_name, parent_status in blocked:  # the blocking parents only (same join)
            reasons.setdefault(pk, f"skipped: upstream step {parent_name!r} {parent_status}")
        for pk, reason in reasons.items():
            skipped = update_rows(
                StepRun.objects.filter(pk=pk, status=StepRunStatus.PENDING),
                now=now,
                status=StepRunStatus.SKIPPED,
                error=reason,
                finished_at=now,
            )
            if skipped:
                events.send_step_run_updated(StepRun.objects.select_related("execution").get(pk=pk))


def execution_settle(*, execution_id: int) -> None:
    """Skip what can no longer run, then finish the execution once no step run is pending or running."""
    step_runs_skip_unreachable(execution_id=execution_id)
    if Execution.objects.filter(pk=execution_id, metadata__has_key="pipeline").exists():
        return  # a pipeline moves from phase to phase: its runner's advance ends it (services.pipelines)
    active = StepRun.objects.filter(
        execution_id=execution_id, status__in=(StepRunStatus.PENDING, StepRunStatus.RUNNING)
    )
    if active.exists():
        return
    failed = StepRun.objects.filter(execution_id=execution_id, status=StepRunStatus.FAILED)
    last_message = (
        StepRun.objects.filter(execution_id=execution_id, resume_session_id__isnull=False).order_by("-id").first()
    )
    over_budget = StepRun.objects.filter(execution_id=execution_id, status=StepRunStatus.BUDGET_EXCEEDED)
    if last_message is not None:  # a continued conversation ends as its last message did
        failed = failed.filter(pk=last_message.pk)
        over_budget = over_budget.filter(pk=last_message.pk)
    status = ExecutionStatus.FAILED if failed.exists() else ExecutionStatus.COMPLETED
    error = None
    if over_budget.exists():  # the agent's stop is the budget's doing, not its own failure
        status = ExecutionStatus.BUDGET_EXCEEDED
        error = "budget exceeded: " + ", ".join(over_budget.values_list("name", flat=True))
    elif status == ExecutionStatus.FAILED:
        # An error already written (e.g. the cycle found by executions_fail_stuck) says more.
        error = Execution.objects.filter(pk=execution_id).values_list("error", flat=True).first()
        error = error or "step(s) failed: " + ", ".join(failed.values_list("name", flat=True))
    now = timezone.now()
    finished = update_rows(
        Execution.objects.filter(pk=execution_id, status__in=EXECUTION_ACTIVE),
        now=now,
        status=status,
        error=error,
        finished_at=now,
    )
    if finished:
        execution = Execution.objects.get(pk=execution_id)
        events.send_execution_updated(execution)
        events.send_execution_status(execution)
        run_follow_execution(execution)


def executions_fail_stuck() -> int:
    """Fail executions that can never progress: pending steps, none ready, none running.

    Only a cycle in the template's step edges (the contract lets users save one) does that.
    """
    waiting = Execution.objects.filter(
        queued=True, status__in=EXECUTION_ACTIVE, step_runs__status=StepRunStatus.PENDING
    )
    running = StepRun.objects.filter(status=StepRunStatus.RUNNING).values("execution_id")
    stuck = 0
    for execution_id in waiting.exclude(pk__in=running).values_list("pk", flat=True).distinct():
        with transaction.atomic():
            execution_settle(execution_id=execution_id)  # steps skipped by hand end it too
        pending = StepRun.objects.filter(execution_id=execution_id, status=StepRunStatus.PENDING)
        if not pending.exists() or pending.exclude(parents__status__in=NOT_COMPLETED).exists():
            continue  # finished now, or something is ready: it only waits for a slot
        now = timezone.now()
        with transaction.atomic():
            names = ", ".join(pending.values_list("name", flat=True))
            update_rows(pending, now=now, status=StepRunStatus.FAILED, error=CYCLE_ERROR, finished_at=now)
            for step_run in StepRun.objects.filter(execution_id=execution_id, finished_at=now):
                events.send_step_run_updated(step_run)
            Execution.objects.filter(pk=execution_id).update(error=f"the step edges form a cycle: {names}")
            execution_settle(execution_id=execution_id)
        stuck += 1
    return stuck
