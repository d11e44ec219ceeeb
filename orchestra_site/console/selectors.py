"""The console's reads that no API serves as such: the latest executions (of every project, of one
project) with their names, and an execution's step runs with the runner's figures (tokens, cost).
Everything else the pages read comes from the apps' own selectors."""

from __future__ import annotations

from django.db.models import QuerySet, Sum

from agents.models import Execution, StepRun

RECENT_EXECUTIONS = 200


def executions_recent(*, limit: int = RECENT_EXECUTIONS) -> QuerySet[Execution]:
    """The newest executions of all projects, with their project, node and template names and the
    sums of what their steps reported (``total_input_tokens``, ``total_output_tokens``, ``total_cost_usd``;
    None when no step reported it)."""
    return (
        Execution.objects.select_related("project", "node", "template")
        .annotate(
            total_input_tokens=Sum("step_runs__input_tokens"),
            total_output_tokens=Sum("step_runs__output_tokens"),
            total_cost_usd=Sum("step_runs__cost_usd"),
        )
        .order_by("-created_at", "-id")[:limit]
    )


def project_executions(*, project_id: int, limit: int = RECENT_EXECUTIONS) -> QuerySet[Execution]:
    """A project's newest executions, with their node and template names."""
    return (
        Execution.objects.filter(project_id=project_id)
        .select_related("node", "template")
        .order_by("-created_at", "-id")[:limit]
    )


def execution_step_runs(*, execution_id: int) -> QuerySet[StepRun]:
    return StepRun.objects.filter(execution_id=execution_id).order_by("id")
