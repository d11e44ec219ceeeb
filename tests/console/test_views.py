from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from agents.models import Execution, StepRun
from orchestration.services import workspace_set_desired
from projects.models import Project

pytestmark = pytest.mark.django_db
REMOTE: dict[str, Any] = {"REMOTE_ADDR": "203.0.113.9"}
PAGES = ["/console/", "/console/projects", "/console/executions", "/console/templates"]


@pytest.fixture
def project(api_client: APIClient) -> dict[str, Any]:
    return api_client.post("/projects", {"name": "Console"}, format="json").json()


def staff_client() -> Client:
    User.objects.create_user("ada", password="correct horse battery", is_staff=True)
    client = Client(**REMOTE)
    assert client.login(username="ada", password="correct horse battery")
    return client


def test_a_browser_opening_the_root_goes_to_the_console() -> None:
    response = Client().get("/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert (response.status_code, response["Location"]) == (302, "/console/")


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_an_api_client_at_the_root_keeps_the_json_404(accept: str | None) -> None:
    headers: dict[str, Any] = {"HTTP_ACCEPT": accept} if accept else {}
    response = Client().get("/", **headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "message": "Not Found"}


@pytest.mark.parametrize("page", [*PAGES, "/console/projects/1", "/console/templates/1"])
def test_a_stranger_gets_the_login_page_and_no_data(page: str) -> None:
    workspace_set_desired(path="/secret/repo", desired=2)
    response = Client(**REMOTE).get(page)
    assert response.status_code == 302
    assert response["Location"] == f"/console/login?next={page}"
    login = Client(**REMOTE).get(response["Location"])
    assert login.status_code == 200
    assert b"Sign in" in login.content and b"/secret/repo" not in login.content


def test_a_request_through_a_proxy_is_not_trusted_as_loopback() -> None:
    response = Client().get("/console/", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 302


def test_loopback_trust_can_be_turned_off(untrusted_loopback: Any) -> None:
    assert Client().get("/console/").status_code == 302


def test_a_staff_user_signs_in_and_sees_the_pages() -> None:
    User.objects.create_user("ada", password="correct horse battery", is_staff=True)
    client = Client(**REMOTE)
    response = client.post("/console/login", {"username": "ada", "password": "correct horse battery"})
    assert (response.status_code, response["Location"]) == (302, "/console/")
    for page in PAGES:
        assert client.get(page).status_code == 200, page


def test_a_user_who_is_not_staff_cannot_sign_in() -> None:
    User.objects.create_user("bob", password="correct horse battery", is_staff=False)
    client = Client(**REMOTE)
    response = client.post("/console/login", {"username": "bob", "password": "correct horse battery"})
    assert response.status_code == 200
    assert client.get("/console/").status_code == 302


def test_the_workspaces_page_lists_every_workspace_and_the_totals() -> None:
    workspace_set_desired(path="/srv/a", desired=3)
    workspace_set_desired(path="/srv/b", desired=2)
    html = Client().get("/console/").content.decode()
    assert re.search(r'id="global-desired">5<', html)
    assert 'data-workspace="/srv/a"' in html and 'data-workspace="/srv/b"' in html
    assert 'aria-label="Desired agents in /srv/a"' in html


def test_the_project_page_carries_its_graph(api_client: APIClient, project: dict[str, Any]) -> None:
    pid = project["id"]
    first = api_client.post(f"/projects/{pid}/nodes", {"title": "Design"}, format="json").json()
    api_client.post(f"/projects/{pid}/nodes", {"title": "Build", "parent_ids": [first["id"]]}, format="json")
    html = Client().get(f"/console/projects/{pid}").content.decode()
    graph = json.loads(re.search(r'<script id="graph-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert graph == api_client.get(f"/projects/{pid}/graph").json()


def test_the_project_page_offers_whole_dag_runs(project: dict[str, Any]) -> None:
    html = Client().get(f"/console/projects/{project['id']}").content.decode()
    assert f'data-dag-runs-url="/projects/{project["id"]}/dag-runs"' in html
    assert 'id="dag-runs"' in html


def test_an_unknown_project_is_an_html_404_in_the_console() -> None:
    response = Client().get("/console/projects/999")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_the_execution_page_shows_steps_with_tokens_and_cost(project: dict[str, Any]) -> None:
    execution = Execution.objects.create(project=Project.objects.get(pk=project["id"]), status="completed")
    StepRun.objects.create(
        execution=execution,
        name="Review",
        agent_type="claude",
        prompt="p",
        status="completed",
        input_tokens=11,
        output_tokens=7,
        cost_usd=0.0123,
        duration_ms=900,
    )
    html = Client().get(f"/console/projects/{project['id']}/executions/{execution.pk}").content.decode()
    assert "Review" in html and ">11<" in html and ">7<" in html and "0.0123" in html and "900 ms" in html


def test_the_template_page_shows_steps_and_edges(api_client: APIClient) -> None:
    body = {
        "name": "Pair",
        "steps": [{"name": s, "agent_type": "claude", "prompt_template": "x"} for s in ("Write", "Check")],
        "edges": [{"parent_id": 0, "child_id": 1}],
    }
    template = api_client.post("/agent-templates", body, format="json").json()
    html = Client().get(f"/console/templates/{template['id']}").content.decode()
    data = json.loads(re.search(r'<script id="template-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert [s["name"] for s in data["steps"]] == ["Write", "Check"]
    assert data["edges"] == template["edges"]


def test_the_swagger_ui_is_served_by_the_hub_not_a_cdn() -> None:
    html = Client().get("/api/docs/").content.decode()
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html


def test_the_project_page_reads_a_fixed_number_of_queries(
    api_client: APIClient, project: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    pid = project["id"]
    parent = None
    for i in range(20):
        body = {"title": f"n{i}", "parent_ids": [parent] if parent else []}
        parent = api_client.post(f"/projects/{pid}/nodes", body, format="json").json()["id"]
    for _ in range(5):
        Execution.objects.create(project_id=pid, node_id=parent, status="pending")
    with django_assert_max_num_queries(12):
        assert Client().get(f"/console/projects/{pid}").status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_load_nothing_from_another_site(page: str) -> None:
    html = Client().get(page).content.decode()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "/static/console/console.css" in html


@pytest.mark.parametrize(
    "asset", ["/static/console/console.js", "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"]
)
def test_the_hub_serves_its_static_files_without_collectstatic(asset: str) -> None:
    response = Client().get(asset)
    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]


def test_the_executions_page_sums_what_the_steps_reported(project: dict[str, Any]) -> None:
    execution = Execution.objects.create(project_id=project["id"], status="completed")
    for tokens, cost in ((11, 0.01), (5, 0.02)):
        StepRun.objects.create(
            execution=execution,
            name="s",
            agent_type="claude",
            prompt="p",
            input_tokens=tokens,
            output_tokens=tokens,
            cost_usd=cost,
        )
    html = Client().get("/console/executions").content.decode()
    assert "16 / 16" in html and "0.0300" in html


def test_the_pages_show_spend_against_budgets(project: dict[str, Any], settings: Any) -> None:
    from django.utils import timezone

    settings.WORKSPACE_DAILY_BUDGET_USD = 2.0
    execution = Execution.objects.create(
        project=Project.objects.get(pk=project["id"]),
        status="budget_exceeded",
        workspace_path=project["workspace_path"],
        max_budget_usd=0.5,
    )
    StepRun.objects.create(
        execution=execution,
        name="Spend",
        agent_type="claude",
        prompt="p",
        status="budget_exceeded",
        cost_usd=0.75,
        finished_at=timezone.now(),
    )
    html = Client().get(f"/console/projects/{project['id']}/executions/{execution.pk}").content.decode()
    assert "$0.7500 of $0.50" in html and "status-budget_exceeded" in html
    listing = Client().get("/console/executions").content.decode()
    assert "Spend today (UTC)" in listing and project["workspace_path"] in listing and "1.2500" in listing


def test_the_execution_page_offers_its_changes_and_the_landing_buttons(project: dict[str, Any]) -> None:
    execution = Execution.objects.create(
        project=Project.objects.get(pk=project["id"]),
        status="completed",
        base_ref="main",
        base_commit="a" * 40,
        worktree_branch="agent/exec-1",
        worktree_path="/tmp/worktrees/exec-1",
        worktree_bytes=2048,
    )
    html = Client().get(f"/console/projects/{project['id']}/executions/{execution.pk}").content.decode()
    assert 'id="changes"' in html and 'id="changed-files"' in html and "console/changes.js" in html
    for button in ("land-merge", "land-push", "land-pull-request", "land-discard"):
        assert f'id="{button}"' in html
    assert "Merge into main" in html and "2.0\xa0KB" in html


def test_an_execution_outside_git_shows_no_changes_section(project: dict[str, Any]) -> None:
    execution = Execution.objects.create(project=Project.objects.get(pk=project["id"]), status="completed")
    html = Client().get(f"/console/projects/{project['id']}/executions/{execution.pk}").content.decode()
    assert 'id="changes"' not in html
