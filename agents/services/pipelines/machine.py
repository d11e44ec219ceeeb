"""The pipeline as a phase machine the runner advances (as it advances DAG runs).

A pipeline is one execution whose ``metadata`` holds:

- ``pipeline_name`` and ``pipeline_context`` (the contract's ``PipelineContext``: every phase's
  results, ``current_phase``, ``retry_count``, and ``critic_results``);
- ``pipeline``: the machine's own state: the definition frozen at launch, ``phase``, the ids of
  the phase's step runs, ``start`` (the phase to start next), ``awaiting_review``, ``version``.

Each agent call is a step run of that execution, so the runner runs it like any other (slots,
confinement, environment, live output, cancel, time limits, crash recovery). ``pipelines_advance``
runs in every runner's cycle: for each running pipeline whose phase's step runs all finished it
reads their answers, stores what they produced, and creates the next phase's step runs, or ends
the execution (``completed`` / ``failed`` with the reason). At the review gate the execution waits
with no step run pending and ``current_phase = "synthesis"``; ``agents.services.pipelines.review``
moves it on. Everything lives in the database, so a restarted hub resumes where it was.

Work that reads the disk (the workspace snapshot before an implementation, the diff after) is done
before the transaction; the transaction then checks (``version``) that nothing moved meanwhile.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents import events
from agents.builtin_pipelines import PipelineDefinition
from agents.logs import append_entries, status_frame
from agents.models import EXECUTION_ACTIVE, STEP_RUN_ACTIVE, Execution, ExecutionStatus, StepRun, StepRunStatus
from agents.services.pipelines import changes
from agents.services.pipelines.nodes import NEEDS_REVIEW, deliverable_add, node_status_move
from agents.services.pipelines.parsing import parse_critic, parse_research, parse_synthesis
from agents.services.pipelines.prompts import render_context, render_prompt
from agents.workdirs import execution_cwd
from orchestra_site.models_update import update_rows
from orchestra_site.outages import TRANSIENT
from projects.models import Node

logger = logging.getLogger(__name__)
STATE = "pipeline"
CONTEXT = "pipeline_context"
MAX_RESTARTS = 3  # agents the hub itself interrupted (crash, restart), started again per pipeline


class PipelineFailure(Exception):
    """Ends the pipeline: execution and node ``failed``, the message as the execution's error."""

    status: str = ExecutionStatus.FAILED


class PipelineBudgetExceeded(PipelineFailure):
    """An agent of a phase spent its budget (``agents.budgets``): the execution ends
    ``budget_exceeded`` (its node ``failed``), not retried by the pipeline."""

    status = ExecutionStatus.BUDGET_EXCEEDED


def is_pipeline(execution: Execution) -> bool:
    return isinstance(execution.metadata, dict) and STATE in execution.metadata


def pipeline_execution_ids(within: Q | None = None) -> list[int]:
    active = Execution.objects.filter(status__in=EXECUTION_ACTIVE, metadata__has_key=STATE)
    if within is not None:
        active = active.filter(within)
    return list(active.order_by("id").values_list("pk", flat=True))


def pipelines_advance(*, within: Q | None = None) -> int:
    """One pass over every running pipeline (``within`` narrows them: the runner's workspaces); the
    number that moved."""
    moved = 0
    for execution_id in pipeline_execution_ids(within):
        try:
            moved += pipeline_advance(execution_id=execution_id)
        except TRANSIENT:
            raise  # the database is away: the runner's cycle backs off and tries again
        except Exception as exc:  # a bug must not leave the pipeline running forever
            logger.exception("pipeline of execution %s failed inside the hub", execution_id)
            with transaction.atomic():
                execution = Execution.objects.select_for_update().filter(pk=execution_id).first()
                if execution is not None:
                    pipeline_fail(execution, f"hub error: {exc}")
            moved += 1
    return moved


def pipeline_advance(*, execution_id: int) -> bool:
    execution = Execution.objects.filter(pk=execution_id, status__in=EXECUTION_ACTIVE).first()
    if execution is None or not is_pipeline(execution):
        return False
    state = execution.metadata[STATE]
    if execution.node_id is None:  # the node was deleted: nobody can review or receive the work
        return _apply(execution_id, state["version"], lambda ex: _node_gone())
    if state.get("awaiting_review"):
        return False
    if state.get("start"):
        prepared = _prepare_start(execution, state["start"])
        return _apply(execution_id, state["version"], lambda ex: _start_phase(ex, prepared))
    runs = list(StepRun.objects.filter(pk__in=state.get("step_run_ids") or []).order_by("id"))
    if not runs or any(run.status in STEP_RUN_ACTIVE for run in runs):
        return False
    found = _prepare_finish(execution, state, runs)
    return _apply(execution_id, state["version"], lambda ex: _finish_phase(ex, runs, found))


def _apply(execution_id: int, version: int, change: Any) -> bool:
    """Run ``change`` on the locked execution if its state is still at ``version``."""
    with transaction.atomic():
        execution = (
            Execution.objects.select_for_update(skip_locked=True)
            .filter(pk=execution_id, status__in=EXECUTION_ACTIVE)
            .first()
        )
        if execution is None or not is_pipeline(execution) or execution.metadata[STATE]["version"] != version:
            return False
        try:
            change(execution)
        except PipelineFailure as failure:
            pipeline_fail(execution, str(failure), status=failure.status)
        return True


def _node_gone() -> None:
    raise PipelineFailure("the node was deleted")


# --- Starting a phase ---------------------------------------------------------------------------


def _prepare_start(execution: Execution, phase: str) -> dict[str, Any]:
    """The disk work before an implementation attempt: the folder it works in, as it is now."""
    if phase != "implement":
        return {"phase": phase}
    try:
        folder = execution_cwd(execution)
        workspace = Path(execution.workspace_path)
        return {"phase": phase, "folder": str(folder), "snapshot": changes.snapshot(folder, workspace)}
    except Exception as exc:  # an unusable workspace fails the run, saying why
        return {"phase": phase, "error": f"implement: cannot read the workspace before the change: {exc}"}


def _start_phase(execution: Execution, prepared: dict[str, Any]) -> None:
    if prepared.get("error"):
        raise PipelineFailure(prepared["error"])
    phase_name = prepared["phase"]
    metadata = execution.metadata
    state, context = metadata[STATE], metadata[CONTEXT]
    definition = PipelineDefinition.from_json(state["definition"])
    phase = definition.phase(phase_name)
    node = Node.objects.filter(pk=execution.node_id).first() if execution.node_id is not None else None
    if node is None:
        raise PipelineFailure(f"{phase_name}: the node was deleted")
    context["current_phase"] = phase_name
    prompt = render_prompt(phase.prompt, render_context(node, context))
    attempt = context["retry_count"] + 1
    label = phase_name.capitalize() + (f" #{attempt}" if phase_name in ("implement", "critic") else "")
    keys = agent_keys(phase.agents)
    created = StepRun.objects.bulk_create(
        StepRun(
            execution=execution,
            name=f"{label} · {agent}",
            agent_type=agent,
            prompt=prompt,
            settings={"timeout_seconds": phase.timeout_seconds, "model_version": phase.models.get(agent)},
            metadata={
                "pipeline_phase": phase_name,
                "agent_key": key,
                "attempt": attempt,
                # The folder before the change, kept with the step (not in the execution, which
                # list responses carry): what its diff is taken against.
                **({"workspace_before": prepared["snapshot"]} if phase_name == "implement" else {}),
            },
        )
        for agent, key in zip(phase.agents, keys, strict=True)
    )
    state.update(phase=phase_name, start=None, step_run_ids=[run.pk for run in created])
    if phase_name == "implement":
        state["folder"] = prepared["folder"]
        node_status_move(node_id=execution.node_id, status="in_progress", expect=("in_progress", "pending"))
    _save(execution)
    for run in StepRun.objects.filter(pk__in=state["step_run_ids"]):
        events.send_step_run_updated(run, project_id=execution.project_id)
    from agents.wakeup import wake_runners_on_commit

    wake_runners_on_commit()


def agent_keys(agents: list[str]) -> list[str]:
    """``claude``, ``codex``, … and ``claude_2`` for a second claude in the same phase."""
    seen: dict[str, int] = {}
    keys = []
    for agent in agents:
        seen[agent] = seen.get(agent, 0) + 1
        keys.append(agent if seen[agent] == 1 else f"{agent}_{seen[agent]}")
    return keys


# --- Finishing a phase --------------------------------------------------------------------------


def _prepare_finish(execution: Execution, state: dict[str, Any], runs: list[StepRun]) -> dict[str, Any]:
    if state.get("phase") != "implement" or not all(run.status == StepRunStatus.COMPLETED for run in runs):
        return {}
    try:
        folder = Path(state["folder"])
        workspace = Path(execution.workspace_path)
        before = runs[0].metadata.get("workspace_before") or {}
        return {"diff": changes.diff(folder, before, changes.snapshot(folder, workspace), workspace)}
    except Exception as exc:
        return {"diff": f"(the hub could not read the change: {exc})"}


def _finish_phase(execution: Execution, runs: list[StepRun], found: dict[str, Any]) -> None:
    state, context = execution.metadata[STATE], execution.metadata[CONTEXT]
    phase = state["phase"]
    if _restart_interrupted(execution, runs):
        return
    if phase != "critic":
        failed = [run for run in runs if run.status != StepRunStatus.COMPLETED]
        if failed:
            over_budget = [run for run in failed if run.status == StepRunStatus.BUDGET_EXCEEDED]
            run = (over_budget or failed)[0]
            message = f"{phase}: the {run.agent_type} agent {run.status}: {run.error or 'no answer'}"
            raise (PipelineBudgetExceeded if over_budget else PipelineFailure)(message)
    outputs = {run.metadata.get("agent_key", run.agent_type): run.output or "" for run in runs}
    if phase == "research":
        text = runs[0].output or ""
        context["research"] = parse_research(text)
        deliverable_add(
            node_id=execution.node_id, execution_id=execution.pk, type="sources", name="sources.md", content=text
        )
        state["start"] = "ideation"
    elif phase == "ideation":
        context["ideation"] = outputs
        state["start"] = "synthesis"
    elif phase == "synthesis":
        synthesis = parse_synthesis(runs[0].output or "")
        context["synthesis"] = synthesis
        deliverable_add(
            node_id=execution.node_id,
            execution_id=execution.pk,
            type="plan",
            name="plan.md",
            content=synthesis["final_plan"],
        )
        state.update(awaiting_review=True, step_run_ids=[])
        node_status_move(node_id=execution.node_id, status=NEEDS_REVIEW)
    elif phase == "implement":
        context["implementation"] = {"output": runs[0].output or "", "artifacts": [], "diff": found.get("diff", "")}
        state["start"] = "critic"
    elif phase == "critic":
        if _judge(execution, state, context, runs):
            return
    state["step_run_ids"] = [] if state.get("start") else state["step_run_ids"]
    _save(execution)


def _restart_interrupted(execution: Execution, runs: list[StepRun]) -> bool:
    """Agents the hub interrupted (a crash, a restart) run again, up to ``MAX_RESTARTS`` per pipeline."""
    state = execution.metadata[STATE]
    crashed = [run for run in runs if run.crashed and run.status == StepRunStatus.FAILED]
    if not crashed or state.get("restarts", 0) >= MAX_RESTARTS:
        return False
    again = StepRun.objects.bulk_create(
        StepRun(
            execution=execution,
            name=run.name,
            agent_type=run.agent_type,
            prompt=run.prompt,
            settings=run.settings,
            metadata={**run.metadata, "restart_of": run.pk},
        )
        for run in crashed
    )
    replaced = {run.pk: new.pk for run, new in zip(crashed, again, strict=True)}
    state["step_run_ids"] = [replaced.get(pk, pk) for pk in state["step_run_ids"]]
    state["restarts"] = state.get("restarts", 0) + len(crashed)
    _save(execution)
    from agents.wakeup import wake_runners_on_commit

    wake_runners_on_commit()
    return True


def _judge(execution: Execution, state: dict[str, Any], context: dict[str, Any], runs: list[StepRun]) -> bool:
    """Count the critics' votes; True when the pipeline ended (passed)."""
    definition = PipelineDefinition.from_json(state["definition"])
    attempt = context["retry_count"] + 1
    results = []
    for run in runs:
        if run.status == StepRunStatus.COMPLETED:
            verdict = parse_critic(run.output or "")
        else:  # an agent error is an abstention, not a NO
            verdict = {
                "vote": None,
                "severity": None,
                "reasoning": f"the agent {run.status}: {run.error}",
                "feedback": "",
            }
        results.append({"agent_type": run.agent_type, "step_run_id": run.pk, "attempt": attempt, **verdict})
    context["critic_results"] = [*context.get("critic_results", []), *results]
    counted = [r for r in results if r["vote"] in ("YES", "NO")]
    yes = sum(1 for r in counted if r["vote"] == "YES")
    if counted and yes / len(counted) >= definition.critic_threshold:
        _save(execution)
        pipeline_complete(execution)
        return True
    feedback = "\n\n".join(
        f"Critic {index} ({r['agent_type']}): {r['feedback']}"
        for index, r in enumerate(results, start=1)
        if r["vote"] == "NO" and r["feedback"]
    )
    context["critic_feedback"] = feedback or None
    if any(r["severity"] == "major" for r in counted):
        _save(execution)
        raise PipelineFailure("Major issues detected, manual intervention required")
    context["retry_count"] += 1
    if context["retry_count"] >= definition.max_retries:
        _save(execution)
        raise PipelineFailure(f"Max retries ({definition.max_retries}) exceeded")
    state["start"] = "implement"
    return False


# --- Saving and ending --------------------------------------------------------------------------


def _save(execution: Execution) -> None:
    execution.metadata[STATE]["version"] += 1
    Execution.objects.filter(pk=execution.pk).update(metadata=execution.metadata, updated_at=timezone.now())


def _end(execution: Execution, status: str, error: str | None) -> bool:
    now = timezone.now()
    execution.metadata[STATE].update(start=None, step_run_ids=[], awaiting_review=False, open=False)
    execution.metadata[STATE]["version"] += 1
    ended = update_rows(
        Execution.objects.filter(pk=execution.pk, status__in=EXECUTION_ACTIVE),
        now=now,
        status=status,
        error=error,
        finished_at=now,
        metadata=execution.metadata,
    )
    if not ended:
        return False
    # Steps still pending (a failure found while others were queued) will not run.
    update_rows(
        StepRun.objects.filter(execution_id=execution.pk, status=StepRunStatus.PENDING),
        now=now,
        status=StepRunStatus.SKIPPED,
        finished_at=now,
    )
    execution.refresh_from_db()
    events.send_execution_updated(execution)
    events.send_execution_status(execution)
    append_entries(
        execution_id=execution.pk,
        step_run_id=None,
        frames=[status_frame(execution_id=execution.pk, status=execution.status, error=execution.error)],
    )
    return True


def pipeline_complete(execution: Execution) -> None:
    if _end(execution, ExecutionStatus.COMPLETED, None):
        node_status_move(node_id=execution.node_id, status="completed", expect=("in_progress",))


def pipeline_fail(execution: Execution, reason: str, *, status: str = ExecutionStatus.FAILED) -> None:
    """End the pipeline ``failed`` (or ``budget_exceeded``); its node ``failed``."""
    execution.refresh_from_db()
    if _end(execution, status, reason):
        node_status_move(node_id=execution.node_id, status="failed", expect=("in_progress", NEEDS_REVIEW, "pending"))
