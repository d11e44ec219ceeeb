"""Creating, updating and cancelling executions and step runs.

``execution_build`` is the one place an execution and its step runs come into being (POST
/executions and launch alike). Status changes use single UPDATE statements so they never overwrite
what the runner wrote in between: timestamps are computed in SQL (``COALESCE``) and cancelling is a
compare-and-set on the active statuses.
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents import events, selectors
from agents.environment import positive_seconds, safe_template_env
from agents.models import (
    EXECUTION_ACTIVE,
    EXECUTION_FINISHED,
    STEP_RUN_ACTIVE,
    STEP_RUN_FINISHED,
    AgentStep,
    AgentTemplate,
    Execution,
    ExecutionStatus,
    StepEdge,
    StepRun,
    StepRunStatus,
)
from agents.prompts import execution_context, resolve_prompt
from agents.runner.logs import append_entries, status_frame
from agents.runner.queue import run_follow_execution
from orchestra_site.api.exceptions import Conflict, InvalidInput
from orchestra_site.timestamps import status_timestamps
from projects.models import Node, Project, Run, RunStatus
from projects.workspaces import validate_worktree_path

NODE_NOT_IN_PROJECT = "Node not found in this project"


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


def step_settings(step: AgentStep, template: AgentTemplate) -> dict[str, Any]:
    """What the runner needs of a step, frozen at creation so later template edits change nothing."""
    step_meta = step.metadata if isinstance(step.metadata, dict) else {}
    template_meta = template.metadata if isinstance(template.metadata, dict) else {}
    return {
        "model_version": step.model_version,
        "thinking_budget": step.thinking_budget,
        "reasoning_level": step.reasoning_level,
        "output_format": step.output_format,
        "timeout_seconds": _seconds("timeout_seconds", step_meta, template_meta),
        "idle_timeout_seconds": _seconds("idle_timeout_seconds", step_meta, template_meta),
        "env": safe_template_env(template_meta.get("env")),
    }


def _seconds(key: str, *metadata: dict[str, Any]) -> float | None:
    """The first positive number of seconds under ``key`` (the step's metadata, then the template's)."""
    for meta in metadata:
        value = meta.get(key)
        if value is not None:
            return positive_seconds(value)
    return None


def execution_build(
    *,
    project: Project,
    node: Node | None,
    template: AgentTemplate | None,
    context: dict[str, Any],
    metadata: dict[str, Any],
    create_worktree: bool,
    queued: bool,
    run: Run | None = None,
) -> Execution:
    """Store a pending execution with one step run per template step, and say so.

    Each step run gets its step's prompt resolved against ``context``, a snapshot of its
    settings, and parent links copied from the template's edges. Call inside a transaction.
    """
    execution = Execution.objects.create(
        project=project,
        node=node,
        template=template,
        metadata=metadata,
        context=context,
        queued=queued,
        workspace_path=project.workspace_path,
        run=run,
    )
    execution.tmux_session = f"exec-{execution.pk}"
    if create_worktree:
        execution.worktree_branch = f"agent/exec-{execution.pk}"
        execution.worktree_path = str(settings.WORKTREES_DIR / f"exec-{execution.pk}")
    execution.save(update_fields=["tmux_session", "worktree_branch", "worktree_path"])
    if template is not None:
        _create_step_runs(execution, template, context)
    events.send_execution_created(execution)
    return execution


def runs_adopt(*, limit: int = 20) -> int:
    """Turn queued Runs (``POST /projects/{pid}/runs``) into one-step executions the runner runs."""
    adopted = 0
    queued = Run.objects.filter(status=RunStatus.QUEUED, execution__isnull=True).select_related("project", "node")
    for run in queued.order_by("id")[:limit]:
        try:
            with transaction.atomic():
                execution = execution_build(
                    project=run.project,
                    node=run.node,
                    template=None,
                    context={},
                    metadata={"run_id": run.pk},
                    create_worktree=False,
                    queued=True,
                    run=run,
                )
                StepRun.objects.create(
                    execution=execution,
                    name=f"Run {run.pk}",
                    agent_type=run.agent_type,
                    prompt=run.prompt,
                    settings={"timeout_seconds": (run.metadata or {}).get("timeout_seconds")},
                )
        except IntegrityError:
            continue  # another runner adopted it first (run is one-to-one)
        adopted += 1
    return adopted


def _create_step_runs(execution: Execution, template: AgentTemplate, context: dict[str, Any]) -> None:
    steps = list(AgentStep.objects.filter(template_id=template.pk).order_by("id"))
    step_runs = StepRun.objects.bulk_create(
        StepRun(
            execution=execution,
            step=step,
            name=step.name,
            agent_type=step.agent_type,
            prompt=resolve_prompt(step.prompt_template, context),
            settings=step_settings(step, template),
        )
        for step in steps
    )
    run_of_step = {step.pk: step_run.pk for step, step_run in zip(steps, step_runs, strict=True)}
    links = StepRun.parents.through
    edges = StepEdge.objects.filter(template_id=template.pk).values_list("parent_id", "child_id")
    links.objects.bulk_create(
        links(from_steprun_id=run_of_step[child], to_steprun_id=run_of_step[parent])
        for parent, child in edges
        if parent in run_of_step and child in run_of_step
    )


@transaction.atomic
def execution_create(
    *,
    project_id: int,
    node_id: int | None = None,
    template_id: int | None = None,
    create_worktree: bool = False,
    context: dict[str, Any] | None = None,
) -> Execution:
    """POST /executions: stored, not started (``queued`` stays false; launch is what runs)."""
    project = selectors.project_get(project_id, for_update=True)
    node = None
    if node_id is not None:
        node = Node.objects.filter(pk=node_id, project_id=project_id).first()
        if node is None:
            raise InvalidInput(NODE_NOT_IN_PROJECT)
    template = None
    if template_id is not None:
        template = AgentTemplate.objects.select_for_update().filter(pk=template_id).first()
        if template is None:
            raise InvalidInput("Template not found")
    given = dict(context or {})
    return execution_build(
        project=project,
        node=node,
        template=template,
        context=execution_context(node, given),
        metadata={**given, "_create_worktree": create_worktree},
        create_worktree=create_worktree,
        queued=False,
    )


@transaction.atomic
def execution_update(*, project_id: int, execution_id: int, changes: ExecutionChanges) -> Execution:
    """Record what a client knows about an execution; never what is not true.

    A finished execution keeps its status, and one the hub's runner owns (launched) changes
    status only through its runner or ``execution_cancel``: a PATCH cannot mark a running agent
    completed. A worktree path must lie inside ``ORCHESTRA_WORKTREES_DIR``.
    """
    execution = selectors.execution_get(project_id=project_id, execution_id=execution_id)
    values: dict[str, Any] = dict(changes)
    if "metadata" in values and values["metadata"] is None:
        values["metadata"] = {}
    if values.get("worktree_path") is not None:
        values["worktree_path"] = str(validate_worktree_path(values["worktree_path"]))
    if values.get("status") == execution.status:
        del values["status"]
    if "status" in values:
        _check_status_change(
            finished=execution.is_finished, runner_owned=execution.queued, what="execution", cancel_hint=True
        )
        values.update(status_timestamps(values["status"], finished=EXECUTION_FINISHED))
    # Compare-and-set on the status read above: the runner may have moved it meanwhile.
    updated = Execution.objects.filter(pk=execution_id, status=execution.status).update(
        **values, updated_at=timezone.now()
    )
    if not updated:
        raise Conflict("status: the execution changed while this request ran; read it again and retry.")
    execution = Execution.objects.get(pk=execution_id)
    events.send_execution_updated(execution)
    return execution


def _check_status_change(*, finished: bool, runner_owned: bool, what: str, cancel_hint: bool = False) -> None:
    if finished:
        raise Conflict(f"status: the {what} already finished; it keeps its status.")
    if runner_owned:
        how = "stop it with POST .../cancel" if cancel_hint else "cancel its execution to stop it"
        raise Conflict(f"status: the hub's runner runs this {what} and records its status; {how}.")


@transaction.atomic
def execution_cancel(*, project_id: int, execution_id: int) -> Execution:
    """Cancel an active execution: it becomes ``cancelled``, its pending/running step runs ``skipped``.

    The runner sees the cancelled row and stops the processes it started for it.
    """
    selectors.execution_get(project_id=project_id, execution_id=execution_id)
    now = timezone.now()
    cancelled = Execution.objects.filter(pk=execution_id, status__in=EXECUTION_ACTIVE).update(
        status=ExecutionStatus.CANCELLED, finished_at=now, updated_at=now
    )
    if not cancelled:
        raise Conflict("Execution already finished")
    active = list(
        StepRun.objects.filter(execution_id=execution_id, status__in=STEP_RUN_ACTIVE).values_list("pk", flat=True)
    )
    StepRun.objects.filter(pk__in=active, status__in=STEP_RUN_ACTIVE).update(
        status=StepRunStatus.SKIPPED, finished_at=now, updated_at=now
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
    return execution


@transaction.atomic
def step_run_update(*, project_id: int, execution_id: int, step_run_id: int, changes: StepRunChanges) -> StepRun:
    """As ``execution_update``: a finished step run, or one the runner owns, keeps its status."""
    step_run = selectors.step_run_get(project_id=project_id, execution_id=execution_id, step_run_id=step_run_id)
    values: dict[str, Any] = dict(changes)
    if "metadata" in values and values["metadata"] is None:
        values["metadata"] = {}
    if values.get("status") == step_run.status:
        del values["status"]
    if "status" in values:
        runner_owned = Execution.objects.filter(pk=execution_id, queued=True).exists()
        _check_status_change(finished=step_run.status in STEP_RUN_FINISHED, runner_owned=runner_owned, what="step run")
        values.update(status_timestamps(values["status"], finished=STEP_RUN_FINISHED))
    updated = StepRun.objects.filter(pk=step_run_id, status=step_run.status).update(**values, updated_at=timezone.now())
    if not updated:
        raise Conflict("status: the step run changed while this request ran; read it again and retry.")
    step_run = StepRun.objects.get(pk=step_run_id)
    events.send_step_run_updated(step_run, project_id=project_id)
    return step_run
