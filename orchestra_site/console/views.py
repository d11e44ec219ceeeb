"""The console's pages: server-rendered from the apps' selectors, made live by small scripts.

Views only read. Every change a page makes goes through the hub's REST API (same origin, with the
CSRF token), so the console changes nothing the API, the admin and the runner do not.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from agents import selectors as agent_selectors
from orchestra_site.console import selectors as console_selectors
from orchestra_site.console.access import console_page
from orchestra_site.exceptions import error_body
from orchestration import selectors as orchestration_selectors
from projects import selectors as project_selectors
from projects.models import AgentType, NodeStatus


def root(request: HttpRequest) -> HttpResponse:
    """A browser (a request that prefers HTML) goes to the console; API clients keep the JSON 404."""
    if request.get_preferred_type(["application/json", "text/html"]) == "text/html":
        return redirect("console-workspaces")
    return JsonResponse(error_body("Not Found"), status=404)


class ConsoleLoginView(auth_views.LoginView):
    """The admin's users (staff) sign in here when the hub does not trust the request's origin."""

    template_name = "console/login.html"
    authentication_form = AdminAuthenticationForm
    redirect_authenticated_user = False

    def get_default_redirect_url(self) -> str:
        return reverse("console-workspaces")


class ConsoleLogoutView(auth_views.LogoutView):
    next_page = "console-login"


@console_page
def workspaces(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/workspaces.html",
        {
            "workspaces": orchestration_selectors.workspace_states(),
            "totals": orchestration_selectors.global_state(),
            "max_desired": settings.MAX_DESIRED,
            "section": "workspaces",
        },
    )


@console_page
def projects(request: HttpRequest) -> HttpResponse:
    return render(
        request, "console/projects.html", {"projects": project_selectors.project_list(), "section": "projects"}
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
            "executions": console_selectors.project_executions(project_id=pid),
            "templates": agent_selectors.template_list(),
            "dag_run_list_url": reverse("dag-runs", kwargs={"pid": pid}),
            "node_statuses": NodeStatus.values,
            "agent_types": AgentType.values,
            "section": "projects",
        },
    )


@console_page
def executions(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/executions.html",
        {"executions": console_selectors.executions_recent(), "section": "executions"},
    )


@console_page
def execution(request: HttpRequest, pid: int, eid: int) -> HttpResponse:
    found = agent_selectors.execution_get(project_id=pid, execution_id=eid)
    return render(
        request,
        "console/execution.html",
        {
            "execution": found,
            "project": project_selectors.project_get(pid),
            "step_runs": console_selectors.execution_step_runs(execution_id=eid),
            "section": "executions",
        },
    )


@console_page
def templates(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/templates.html",
        {"templates": agent_selectors.template_list(), "section": "templates"},
    )


@console_page
def template(request: HttpRequest, tid: int) -> HttpResponse:
    found = agent_selectors.template_get(tid)
    return render(
        request,
        "console/template.html",
        {"template": agent_selectors.template_with_steps_data(found), "section": "templates"},
    )
