"""A follow-up message: a finished execution's agent continues its session with a new prompt.

The message becomes one more step run of the execution (``resume_session_id`` set), which the
runner takes like any other: a slot of the workspace, the same folder (its worktree), the same
environment rules, its output on the same terminal socket, its tokens and cost on the step run.
The execution goes back to ``pending`` and settles again when the step run ends.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from agents import events, selectors
from agents.adapters import AGENT_TYPES
from agents.adapters.base import validate_session_id
from agents.budgets import refuse_when_daily_budget_spent
from agents.models import EXECUTION_ACTIVE, Execution, ExecutionStatus, StepRun, StepRunStatus
from agents.wakeup import wake_runners_on_commit
from orchestra_site.api.exceptions import StateConflict
from orchestra_site.models_update import update_rows

RESUMABLE = frozenset(AGENT_TYPES) - {"custom"}


@transaction.atomic
def execution_message_send(*, project_id: int, execution_id: int, prompt: str) -> StepRun:
    """Queue ``prompt`` into the session the execution's agent answered last in; the new step run.

    409 while the execution runs, for one discarded, for one whose worktree was removed, for one
    the hub's runner does not run (``POST /executions`` stores without running), when no agent
    session was recorded, when its workspace spent its daily budget
    (``ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD``), and for a pipeline's execution (its review decides
    how it goes on: a rejected run stays cancelled).
    """
    selectors.execution_get(project_id=project_id, execution_id=execution_id)
    execution = Execution.objects.select_for_update().get(pk=execution_id)
    if execution.status in EXECUTION_ACTIVE:
        raise StateConflict(
            f"the execution is {execution.status}: wait until it finishes (or cancel it), then send the message."
        )
    if execution.status == ExecutionStatus.DISCARDED:
        raise StateConflict("the execution was discarded (another attempt was landed); it cannot be continued.")
    from agents.services.pipelines import is_pipeline  # the pipelines build on this package

    if is_pipeline(execution):
        raise StateConflict(
            "a pipeline goes on through its review (POST …/nodes/{id}/feedback) or a new launch, not messages."
        )
    if execution.worktree_removed_at is not None:
        raise StateConflict(
            f"its worktree was removed (DELETE .../worktree); its work is on the branch {execution.worktree_branch},"
            " but its agent has no folder to continue in. Launch a new execution from that branch instead."
        )
    refuse_when_daily_budget_spent(workspace_path=execution.workspace_path)
    if not execution.queued:
        raise StateConflict(
            "the hub's runner does not run this execution (it was stored by POST /executions), so it has no "
            "agent session to continue."
        )
    last = _last_session(execution)
    previous_status = execution.status
    now = timezone.now()
    step_run = StepRun.objects.create(
        execution=execution,
        step_id=last.step_id,
        name=_message_name(execution),
        agent_type=last.agent_type,
        prompt=prompt,
        settings=last.settings,
        resume_session_id=last.session_id,
    )
    reopened = update_rows(
        Execution.objects.filter(pk=execution.pk, status=previous_status),
        now=now,
        status=ExecutionStatus.PENDING,
        error=None,
        finished_at=None,
    )
    if not reopened:  # the row is locked above: only a bug gets here, and the transaction undoes all
        raise StateConflict("status: the execution changed while this request ran; read it again and retry.")
    execution.refresh_from_db()
    events.send_step_run_updated(step_run, project_id=project_id)
    events.send_execution_updated(execution)
    events.send_execution_status(execution)
    events.send_execution_message_prompt(step_run, project_id=project_id)
    wake_runners_on_commit()
    return step_run


def _last_session(execution: Execution) -> StepRun:
    """The step run whose agent session a message continues: the latest that recorded one."""
    last = (
        StepRun.objects.filter(execution=execution, session_id__isnull=False)
        .exclude(session_id="")
        .exclude(status__in=(StepRunStatus.PENDING, StepRunStatus.RUNNING))
        .order_by("-id")
        .first()
    )
    if last is None:
        raise StateConflict(
            "no agent session to continue: none of the execution's agents reported a session id (a custom "
            "agent, or an agent that never started)."
        )
    if last.agent_type not in RESUMABLE:
        raise StateConflict(f"no agent session to continue: a {last.agent_type} agent cannot resume a session.")
    try:
        validate_session_id(last.session_id or "")
    except ValueError as exc:
        raise StateConflict(f"no agent session to continue: {exc}") from None
    return last


def _message_name(execution: Execution) -> str:
    count = StepRun.objects.filter(execution=execution, resume_session_id__isnull=False).count()
    return f"Message {count + 1}"
