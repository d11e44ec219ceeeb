"""Best of N: an attempt set aside because another attempt of its group was landed."""

from __future__ import annotations

from django.utils import timezone

from agents import events
from agents.logs import append_entries, status_frame
from agents.models import STEP_RUN_ACTIVE, Execution, ExecutionStatus, StepRun, StepRunStatus
from agents.services.lifecycle.executions import run_follow_execution
from orchestra_site.models_update import update_rows


def execution_discard(*, execution_id: int) -> bool:
    """Mark the execution ``discarded`` (from any status but discarded); its pending and running
    step runs become ``skipped``, as on a cancel, so its runner stops their agents. Call inside a
    transaction and wake the runners on commit. False when it was discarded already."""
    now = timezone.now()
    discarded = update_rows(
        Execution.objects.filter(pk=execution_id).exclude(status=ExecutionStatus.DISCARDED),
        now=now,
        status=ExecutionStatus.DISCARDED,
        finished_at=now,
    )
    if not discarded:
        return False
    active = list(
        StepRun.objects.filter(execution_id=execution_id, status__in=STEP_RUN_ACTIVE).values_list("pk", flat=True)
    )
    update_rows(
        StepRun.objects.filter(pk__in=active, status__in=STEP_RUN_ACTIVE),
        now=now,
        status=StepRunStatus.SKIPPED,
        error="skipped: its execution was discarded (another attempt was landed)",
        finished_at=now,
    )
    execution = Execution.objects.get(pk=execution_id)
    events.send_execution_updated(execution)
    events.send_execution_status(execution)
    for step_run in StepRun.objects.filter(pk__in=active, status=StepRunStatus.SKIPPED, finished_at=now):
        events.send_step_run_updated(step_run, project_id=execution.project_id)
    append_entries(
        execution_id=execution_id,
        step_run_id=None,
        frames=[status_frame(execution_id=execution_id, status=execution.status)],
    )
    run_follow_execution(execution)
    return True
