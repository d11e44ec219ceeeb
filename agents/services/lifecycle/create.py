"""Where executions and their step runs come into being: POST /executions, launch, queued Runs and
DAG-run nodes all go through ``execution_build``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from agents import events
from agents.budgets import agent_budget
from agents.environment import positive_seconds, safe_template_env
from agents.models import AgentStep, AgentTemplate, DagRun, DagRunNode, Execution, StepEdge, StepRun
from agents.prompts import launch_context, node_prompt, parent_results, parents_block, resolve_prompt
from projects.models import Node, Project, Run, RunStatus


def step_settings(step: AgentStep, template: AgentTemplate, execution: Execution | None = None) -> dict[str, Any]:
    """What the runner needs of a step, frozen at creation so later template edits change nothing.
    ``max_budget_usd`` is the smallest of the step's, the template's and the execution's."""
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
        "max_budget_usd": agent_budget(
            step.max_budget_usd, template.max_budget_usd, execution.max_budget_usd if execution else None
        ),
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
    max_budget_usd: float | None = None,
    attempt: int = 1,
    attempt_group: int | None = None,
) -> Execution:
    """Store a pending execution with one step run per template step, and say so.

    Each step run gets its step's prompt resolved against ``context``, a snapshot of its
    settings, and parent links copied from the template's edges. Call inside a transaction.
    Best of N: ``attempt`` numbers it in ``attempt_group`` (the first attempt's id; the first
    attempt passes ``attempt=1`` with ``attempt_group=0`` to be stamped with its own id).
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
        max_budget_usd=max_budget_usd,
        attempt=attempt,
        attempt_group=attempt_group or None,
    )
    execution.tmux_session = f"exec-{execution.pk}"
    if attempt_group == 0:
        execution.attempt_group = execution.pk
    if create_worktree or worktree_by_default(project, template):
        execution.worktree_branch = f"agent/exec-{execution.pk}"
        execution.worktree_path = str(settings.WORKTREES_DIR / f"exec-{execution.pk}")
    execution.save(update_fields=["tmux_session", "worktree_branch", "worktree_path", "attempt_group"])
    if template is not None:
        _create_step_runs(execution, template, context)
    events.send_execution_created(execution)
    return execution


def worktree_by_default(project: Project, template: AgentTemplate | None) -> bool:
    """The project's ``worktree_by_default``, or a template's ``metadata.create_worktree: true``,
    gives each execution a worktree and branch of its own even when the launch does not ask."""
    meta = template.metadata if template is not None else None
    return project.worktree_by_default or (isinstance(meta, dict) and meta.get("create_worktree") is True)


def _create_step_runs(execution: Execution, template: AgentTemplate, context: dict[str, Any]) -> None:
    steps = list(AgentStep.objects.filter(template_id=template.pk).order_by("id"))
    step_runs = StepRun.objects.bulk_create(
        StepRun(
            execution=execution,
            step=step,
            name=step.name,
            agent_type=step.agent_type,
            prompt=resolve_prompt(step.prompt_template, context),
            settings=step_settings(step, template, execution),
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


def dag_node_executions_build(dag_run: DagRun, run_node: DagRunNode) -> list[Execution]:
    """A DAG-run node's next try: ``dag_run.attempts`` executions of it (best of N, each in its
    own worktree when there are several), sharing an attempt group."""
    count = max(1, dag_run.attempts)
    first = dag_node_execution_build(dag_run, run_node, attempt=1, attempt_group=0 if count > 1 else None)
    return [first] + [
        dag_node_execution_build(dag_run, run_node, attempt=number, attempt_group=first.attempt_group)
        for number in range(2, count + 1)
    ]


def dag_node_execution_build(
    dag_run: DagRun, run_node: DagRunNode, *, attempt: int = 1, attempt_group: int | None = None
) -> Execution:
    """A DAG-run node's next attempt: ``template`` launched on it, or its own agent and prompt."""
    node = run_node.node
    parents = parent_results(node)
    context = launch_context(node, {"parents": parents})
    template = dag_run.template
    create_worktree = dag_run.create_worktree or attempt_group is not None
    execution = execution_build(
        project=dag_run.project,
        node=node,
        template=template,
        context=context,
        metadata={"context": context, "dag_run_id": dag_run.pk, "_create_worktree": create_worktree},
        create_worktree=create_worktree,
        queued=True,
        max_budget_usd=dag_run.max_budget_usd,
        attempt=attempt,
        attempt_group=attempt_group,
    )
    block = parents_block(parents)
    if template is None:
        assert node.agent_type is not None  # dag_run_create refuses a node without one when no template is given
        StepRun.objects.create(
            execution=execution,
            name=node.title[:255],
            agent_type=node.agent_type,
            prompt=node_prompt(node) + block,
            settings={"max_budget_usd": dag_run.max_budget_usd},
        )
    elif block:
        for step_run in StepRun.objects.filter(execution=execution, parents__isnull=True):
            step_run.prompt += block
            step_run.save(update_fields=["prompt"])
    Execution.objects.filter(pk=execution.pk).update(dag_run_node=run_node)
    execution.dag_run_node = run_node
    events.send_execution_status(execution)
    return execution
