"""``/projects/{pid}/dag-runs``: what a DAG run starts with, what it refuses, and its schema."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import DagRun, DagRunNode
from agents.services import templates
from projects import services as project_services
from projects.models import NodeEdge, Project
from tests.support.openapi_check import SchemaChecker, hub_openapi

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(db: None) -> Project:
    return project_services.project_create(name="DAG")


def node(project: Project, title: str, agent_type: str | None = "claude", *parents: int, **fields: Any) -> int:
    created = project_services.node_create(
        project_id=project.pk, title=title, agent_type=agent_type, parent_ids=list(parents), **fields
    )
    return created.pk


def url(project: Project, *rest: object) -> str:
    return "/".join([f"/projects/{project.pk}/dag-runs", *map(str, rest)])


def test_by_default_it_runs_every_node_with_an_agent_type_that_is_not_completed(
    api_client: APIClient, project: Project, django_capture_on_commit_callbacks: Any, event_log: Any
) -> None:
    first = node(project, "First")
    node(project, "No agent", None)
    node(project, "Done already", "codex", status="completed")
    second = node(project, "Second", "codex", first)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(url(project), {}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "project_id": project.pk,
        "status": "pending",
        "nodes": [
            {"node_id": first, "status": "waiting", "attempts": 0, "execution_ids": [], "error": None},
            {"node_id": second, "status": "waiting", "attempts": 0, "execution_ids": [], "error": None},
        ],
        "max_retries": 1,
        "retry_backoff_seconds": 10,
        "max_budget_usd": None,
        "created_at": body["created_at"],
        "started_at": None,
        "finished_at": None,
        "attempts": 1,
    }
    assert list(DagRunNode.objects.filter(dag_run_id=body["id"]).values_list("parent_ids", flat=True)) == [
        [],
        [first],
    ]
    assert event_log.named("dag_run.created") == [body]
    assert api_client.get(url(project)).json() == [body]
    assert api_client.get(url(project, body["id"])).json() == body


def test_a_parent_left_out_of_the_run_counts_as_done(api_client: APIClient, project: Project) -> None:
    first = node(project, "First")
    second = node(project, "Second", "claude", first)
    body = api_client.post(url(project), {"node_ids": [second]}, format="json").json()
    assert [(n["node_id"], n["status"]) for n in body["nodes"]] == [(second, "waiting")]
    assert DagRunNode.objects.get(node_id=second).parent_ids == []


def test_a_template_runs_nodes_without_an_agent_type(api_client: APIClient, project: Project) -> None:
    bare = node(project, "Bare", None)
    step: templates.StepFields = {"name": "s", "agent_type": "claude", "prompt_template": "p"}
    template = templates.template_create(name="T", steps=[step])
    body = {"node_ids": [bare], "template_id": template.pk, "max_retries": 0, "retry_backoff_seconds": 0}
    response = api_client.post(url(project), body, format="json")
    assert response.status_code == 201
    assert (response.json()["max_retries"], response.json()["retry_backoff_seconds"]) == (0, 0)
    assert DagRun.objects.get().template_id == template.pk


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"node_ids": [987654]}, "node_ids: node 987654 not found in this project"),
        ({"node_ids": []}, "node_ids: must name at least one node"),
        ({"node_ids": "1"}, "node_ids"),
        ({"template_id": 987654}, "template_id: template 987654 not found"),
        ({"max_retries": 6}, "max_retries"),
        ({"max_retries": -1}, "max_retries"),
        ({"retry_backoff_seconds": -1}, "retry_backoff_seconds"),
        ({"create_worktree": "yes"}, "create_worktree"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    api_client: APIClient, project: Project, body: dict[str, Any], detail: str
) -> None:
    node(project, "First")
    response = api_client.post(url(project), body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert not DagRun.objects.exists() and not DagRunNode.objects.exists()


def test_it_names_a_node_that_cannot_run(api_client: APIClient, project: Project) -> None:
    bare = node(project, "Bare", None)
    response = api_client.post(url(project), {"node_ids": [bare]}, format="json")
    assert response.status_code == 400
    detail = f"node_ids: node {bare} ('Bare') has no agent_type; give it one or pass template_id"
    assert response.json() == {"detail": detail, "message": detail}
    assert not DagRun.objects.exists()


def test_it_refuses_a_cycle_naming_a_node_on_it(api_client: APIClient, project: Project) -> None:
    first = node(project, "First")
    second = node(project, "Second", "claude", first)
    NodeEdge.objects.create(parent_id=second, child_id=first)  # only a direct write can make one
    response = api_client.post(url(project), {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"node_ids: node {first} is part of a cycle ({first}, {second})",
        "message": f"node_ids: node {first} is part of a cycle ({first}, {second})",
    }
    assert not DagRun.objects.exists()


def test_an_empty_project_has_nothing_to_run(api_client: APIClient, project: Project) -> None:
    response = api_client.post(url(project), {}, format="json")
    assert response.json() == {
        "detail": "node_ids: no node to run (every node is completed or has no agent_type)",
        "message": "node_ids: no node to run (every node is completed or has no agent_type)",
    }


def test_unknown_projects_and_runs_are_404(api_client: APIClient, project: Project) -> None:
    assert api_client.get("/projects/987654/dag-runs").json() == {
        "detail": "Project not found",
        "message": "Project not found",
    }
    assert api_client.get(url(project, 987654)).status_code == 404
    assert api_client.post(url(project, 987654, "cancel")).json() == {
        "detail": "DAG run not found",
        "message": "DAG run not found",
    }


@pytest.mark.parametrize("runs", [1, 4])
def test_the_run_list_reads_the_same_number_of_queries_whatever_its_length(
    api_client: APIClient, project: Project, django_assert_num_queries: Any, runs: int
) -> None:
    first = node(project, "First")
    node(project, "Second", "codex", first)
    for _ in range(runs):
        assert api_client.post(url(project), {}, format="json").status_code == 201
    # The project, the runs, their nodes, and the nodes' executions.
    with django_assert_num_queries(4):
        listed = api_client.get(url(project)).json()
    assert len(listed) == runs and all(len(run["nodes"]) == 2 for run in listed)
    assert listed[0] == api_client.get(url(project, listed[0]["id"])).json()


def test_every_dag_run_endpoint_answers_as_its_schema_says(api_client: APIClient, project: Project) -> None:
    node(project, "First")
    checker = SchemaChecker(hub_openapi(), api_client)
    pid = project.pk
    created = checker.call("post", "/projects/{pid}/dag-runs", 201, {"max_retries": 2}, pid=pid)
    checker.call("post", "/projects/{pid}/dag-runs", 400, {"node_ids": [0]}, pid=pid)
    checker.call("get", "/projects/{pid}/dag-runs", 200, pid=pid)
    checker.call("get", "/projects/{pid}/dag-runs/{rid}", 200, pid=pid, rid=created["id"])
    checker.call("get", "/projects/{pid}/dag-runs/{rid}", 404, pid=pid, rid=987654)
    cancelled = checker.call("post", "/projects/{pid}/dag-runs/{rid}/cancel", 200, pid=pid, rid=created["id"])
    assert cancelled["status"] == "cancelled"
    assert [n["status"] for n in cancelled["nodes"]] == ["cancelled"]
    checker.call("post", "/projects/{pid}/dag-runs/{rid}/cancel", 400, pid=pid, rid=created["id"])
    assert checker.seen == checker.documented(lambda path: "/dag-runs" in path)
