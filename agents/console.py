"""The console's pages that show agents at work: a project's DAG with its executions, the latest
executions of every project, one execution with its step runs, and the templates.

Pages only read. Every change a page makes goes through the hub's REST API (same origin, with the
CSRF token), so the console changes nothing the API, the admin and the runner do not.
"""

from __future__ import annotations

from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse

from agents import budgets, selectors
from agents.models import Execution, StepRun
from agents.serializers import TemplateWithStepsSerializer
from agents.services.pipelines.console import pipeline_page
from orchestra_site.console.access import console_page
from projects import selectors as project_selectors
from projects.models import AgentType, NodeStatus

RECENT_EXECUTIONS = 200


def executions_recent(*, limit: int = RECENT_EXECUTIONS) -> QuerySet[Execution]:
    """The newest executions of all projects, with their project, node and template names and the
    sums of what their steps reported (``total_input_tokens``, ``total_output_tokens``,
    ``total_cost_usd``; None when no step reported it)."""
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


def execution_attempts(execution: Execution) -> list[Execution]:
    """The attempts of the execution's best-of-N group, by number, with ``total_cost_usd``."""
    if execution.attempt_group is None:
        return [execution]
    return list(
        Execution.objects.filter(attempt_group=execution.attempt_group)
        .annotate(total_cost_usd=Sum("step_runs__cost_usd"))
        .order_by("attempt", "id")
    )


@console_page
def project(request: HttpRequest, pid: int) -> HttpResponse:
    found = project_selectors.project_get(pid)
    return render(
        request,
        "console/project.html",
        {
            "project": found,
            "graph": project_selectors.graph(pid),
            "executions": project_executions(project_id=pid),
            "templates": selectors.template_list(),
            "dag_run_list_url": reverse("dag-runs", kwargs={"pid": pid}),
            "node_statuses": NodeStatus.values,
            "agent_types": AgentType.values,
            "section": "projects",
        },
    )


@console_page
def executions(request: HttpRequest) -> HttpResponse:
    context = {"executions": executions_recent(), "spend": budgets.spend_by_workspace(), "section": "executions"}
    return render(request, "console/executions.html", context)


@console_page
def execution(request: HttpRequest, pid: int, eid: int) -> HttpResponse:
    found = selectors.execution_get(project_id=pid, execution_id=eid)
    return render(
        request,
        "console/execution.html",
        {
            "execution": found,
            "project": project_selectors.project_get(pid),
            "step_runs": StepRun.objects.filter(execution_id=eid).order_by("id"),
            "spent_usd": StepRun.objects.filter(execution_id=eid).aggregate(total=Sum("cost_usd"))["total"],
            "pipeline": pipeline_page(found),
            "attempts": execution_attempts(found),
            "section": "executions",
        },
    )


@console_page
def templates(request: HttpRequest) -> HttpResponse:
    return render(request, "console/templates.html", {"templates": selectors.template_list(), "section": "templates"})


@console_page
def template(request: HttpRequest, tid: int) -> HttpResponse:
    found = selectors.template_get(tid)
    return render(
        request,
        "console/template.html",
        {"template": TemplateWithStepsSerializer(found).data, "section": "templates"},
    )


urlpatterns = [
    path("projects/<int:pid>", project, name="console-project"),
    path("executions", executions, name="console-executions"),
    path("projects/<int:pid>/executions/<int:eid>", execution, name="console-execution"),
    path("templates", templates, name="console-templates"),
    path("templates/<int:tid>", template, name="console-template"),
]
