"""``GET /executions`` and ``POST /launch``: the seed's routes without the project in the path."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, ExecutionStatus
from agents.services import templates
from projects import services as project_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict[str, int]:
    first = project_services.project_create(name="First")
    second = project_services.project_create(name="Second")
    node = project_services.node_create(project_id=first.pk, title="Add cache", prompt="Make it fast")
    template = templates.template_create(
        name="One step", steps=[{"name": "Do", "agent_type": "claude", "prompt_template": "{{node.title}}"}]
    )
    return {"first": first.pk, "second": second.pk, "node": node.pk, "template": template.pk}


def test_launch_by_body_answers_what_the_nested_launch_answers(api_client: APIClient, world: dict[str, int]) -> None:
    body = {"project_id": world["first"], "node_id": world["node"], "template_id": world["template"]}
    flat = api_client.post("/launch", body, format="json")
    nested = api_client.post(
        f"/projects/{world['first']}/nodes/{world['node']}/launch", {"template_id": world["template"]}, format="json"
    )
    assert (flat.status_code, nested.status_code) == (201, 201)
    changing = {"id", "tmux_session", "created_at", "updated_at", "step_runs"}
    assert {k: v for k, v in flat.json().items() if k not in changing} == {
        k: v for k, v in nested.json().items() if k not in changing
    }
    execution = Execution.objects.get(pk=flat.json()["id"])
    assert (execution.project_id, execution.node_id, execution.queued) == (world["first"], world["node"], True)
    assert [run["prompt"] for run in flat.json()["step_runs"]] == ["Add cache"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"node_id": 1, "template_id": 1}, 400, "project_id: This field is required."),
        ({"project_id": "x", "node_id": 1, "template_id": 1}, 400, "project_id: A valid integer is required."),
        ({"project_id": 999, "node_id": 1, "template_id": 1}, 404, "Project not found"),
    ],
)
def test_launch_by_body_refuses_a_bad_request_naming_the_field(
    api_client: APIClient, world: dict[str, int], body: dict[str, object], status: int, detail: str
) -> None:
    response = api_client.post("/launch", body, format="json")
    assert (response.status_code, response.json()["detail"], response.json()["message"]) == (status, detail, detail)
    assert not Execution.objects.exists()


def test_the_execution_index_lists_every_project_newest_first_with_filters(
    api_client: APIClient, world: dict[str, int]
) -> None:
    launched = [
        api_client.post(f"/projects/{pid}/executions", {}, format="json").json()["id"]
        for pid in (world["first"], world["second"], world["first"])
    ]
    Execution.objects.filter(pk=launched[0]).update(status=ExecutionStatus.COMPLETED)

    def ids(query: str = "") -> list[int]:
        response = api_client.get(f"/executions{query}")
        assert response.status_code == 200
        return [execution["id"] for execution in response.json()]

    assert ids() == launched[::-1]
    assert ids(f"?project_id={world['first']}") == [launched[2], launched[0]]
    assert ids("?status=completed") == [launched[0]]
    assert ids("?limit=2") == [launched[2], launched[1]]
    assert ids("?project_id=999") == []


@pytest.mark.parametrize(
    ("query", "field"), [("?status=sleeping", "status"), ("?limit=0", "limit"), ("?project_id=abc", "project_id")]
)
def test_a_bad_execution_filter_is_a_400_naming_it(api_client: APIClient, query: str, field: str) -> None:
    response = api_client.get(f"/executions{query}")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")
