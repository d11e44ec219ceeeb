"""Budgets without a CLI: the input rules, the frozen per-agent limit, the daily budget and spend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.adapters.base import event
from agents.budgets import estimated_cost, reported_cost, starting_limit
from agents.models import Execution, ExecutionStatus, StepRun, StepRunStatus
from agents.services.lifecycle import StepOutcome, step_run_finish
from tests.support.agent_runs import launch, make_template
from tests.support.dag_runs import add_node

pytestmark = pytest.mark.django_db(transaction=True)


def template_with_budgets(client: APIClient, template_budget: float | None, step_budget: float | None) -> dict:
    body = {
        "name": "budgeted",
        "max_budget_usd": template_budget,
        "steps": [
            {"name": "A", "agent_type": "custom", "prompt_template": "a", "max_budget_usd": step_budget},
            {"name": "B", "agent_type": "custom", "prompt_template": "b"},
        ],
        "edges": [{"parent_id": 0, "child_id": 1}],
    }
    response = client.post("/agent-templates", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize("bad", [-1, 0, 1e12, "lots", True, [], "NaN"])
def test_a_bad_budget_is_a_400_naming_the_field_everywhere(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], bad: Any
) -> None:
    template = make_template(api_client, [("A", "custom", "1")])
    pid = project["id"]
    attempts = [
        ("/agent-templates", {"name": "t", "max_budget_usd": bad}),
        (
            f"/agent-templates/{template['id']}/steps",
            {"name": "s", "agent_type": "claude", "prompt_template": "p", "max_budget_usd": bad},
        ),
        (f"/projects/{pid}/nodes/{node['id']}/launch", {"template_id": template["id"], "max_budget_usd": bad}),
        ("/launch", {"project_id": pid, "node_id": node["id"], "template_id": template["id"], "max_budget_usd": bad}),
        (f"/projects/{pid}/dag-runs", {"template_id": template["id"], "max_budget_usd": bad}),
    ]
    for url, body in attempts:
        response = api_client.post(url, body, format="json")
        assert response.status_code == 400, (url, response.content)
        assert "max_budget_usd" in response.json()["detail"], (url, response.json())
    patch = api_client.patch(f"/agent-templates/{template['id']}", {"max_budget_usd": bad}, format="json")
    assert patch.status_code == 400 and "max_budget_usd" in patch.json()["detail"]
    assert Execution.objects.count() == 0  # nothing half-written


def test_each_agent_gets_the_smallest_budget_that_applies(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = template_with_budgets(api_client, 5.0, 2.0)
    assert template["max_budget_usd"] == 5.0 and template["steps"][0]["max_budget_usd"] == 2.0
    url = f"/projects/{project['id']}/nodes/{node['id']}/launch"
    execution = api_client.post(url, {"template_id": template["id"], "max_budget_usd": 3.0}, format="json").json()
    assert execution["max_budget_usd"] == 3.0 and execution["spent_usd"] == 0
    limits = dict(StepRun.objects.filter(execution_id=execution["id"]).values_list("name", "settings__max_budget_usd"))
    assert limits == {"A": 2.0, "B": 3.0}
    unlimited = launch(api_client, project, node, make_template(api_client, [("A", "custom", "1")]))
    assert StepRun.objects.get(execution_id=unlimited["id"]).settings["max_budget_usd"] is None


def test_a_dag_run_budget_reaches_its_agents(api_client: APIClient, project: dict[str, Any]) -> None:
    add_node(api_client, project, "one", "do it")
    response = api_client.post(f"/projects/{project['id']}/dag-runs", {"max_budget_usd": 0.25}, format="json")
    assert response.status_code == 201 and response.json()["max_budget_usd"] == 0.25


def finished_step(execution_id: int, *, status: str, cost: float | None, name: str = "A") -> StepRun:
    step_run = StepRun.objects.get(execution_id=execution_id, name=name)
    StepRun.objects.filter(pk=step_run.pk).update(status=StepRunStatus.RUNNING)
    return step_run_finish(step_run_id=step_run.pk, outcome=StepOutcome(status=status, cost_usd=cost, error="x"))


def test_an_agent_over_budget_ends_its_execution_as_budget_exceeded_and_skips_what_follows(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, template_with_budgets(api_client, None, 0.5))
    finished_step(execution["id"], status=StepRunStatus.BUDGET_EXCEEDED, cost=0.75)
    steps = dict(StepRun.objects.filter(execution_id=execution["id"]).values_list("name", "status"))
    assert steps == {"A": "budget_exceeded", "B": "skipped"}
    done = Execution.objects.get(pk=execution["id"])
    assert (done.status, done.error) == (ExecutionStatus.BUDGET_EXCEEDED, "budget exceeded: A")
    body = api_client.get(f"/projects/{project['id']}/executions/{execution['id']}").json()
    assert (body["status"], body["spent_usd"]) == ("budget_exceeded", 0.75)
    cancel = api_client.post(f"/projects/{project['id']}/executions/{execution['id']}/cancel")
    assert cancel.status_code == 400  # finished, as any other end


def test_a_launch_into_a_workspace_that_spent_its_daily_budget_is_refused_with_409(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], settings: Any
) -> None:
    settings.WORKSPACE_DAILY_BUDGET_USD = 1.0
    template = make_template(api_client, [("A", "custom", "1")])
    first = launch(api_client, project, node, template)
    finished_step(first["id"], status=StepRunStatus.COMPLETED, cost=0.4)
    assert starting_limit(step_budget=2.0, workspace_path=project["workspace_path"])[0] == pytest.approx(0.6)
    second = launch(api_client, project, node, template)  # 0.6 left: allowed
    finished_step(second["id"], status=StepRunStatus.COMPLETED, cost=0.7)

    url = f"/projects/{project['id']}/nodes/{node['id']}/launch"
    refused = api_client.post(url, {"template_id": template["id"]}, format="json")
    assert refused.status_code == 409
    assert "ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD" in refused.json()["detail"]
    dag = api_client.post(f"/projects/{project['id']}/dag-runs", {"template_id": template["id"]}, format="json")
    assert dag.status_code == 409
    assert Execution.objects.count() == 2

    [row] = api_client.get("/spend").json()
    assert row["workspace_path"] == project["workspace_path"]
    assert (row["spent_usd"], row["daily_budget_usd"], row["left_usd"]) == (1.1, 1.0, 0.0)
    assert (row["agents"], row["executions"], row["day"]) == (2, 2, timezone.now().date().isoformat())
    yesterday = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    assert api_client.get("/spend", {"day": yesterday}).json() == []
    one = api_client.get("/spend", {"workspace_path": "/nowhere"}).json()
    assert [(r["workspace_path"], r["spent_usd"]) for r in one] == [("/nowhere", 0.0)]
    assert "day" in api_client.get("/spend", {"day": "soon"}).json()["detail"]


def test_a_cli_that_reports_tokens_but_no_cost_is_priced(settings: Any) -> None:
    settings.TOKEN_PRICE_USD_PER_MILLION = (3.0, 15.0)
    assert estimated_cost(1_000_000, 100_000) == pytest.approx(4.5)
    result = event("result", "", "", cost_usd=None, input_tokens=10, output_tokens=1_000_000)
    assert reported_cost([result]) == pytest.approx(15.00003)
    assert reported_cost([{**result, "cost_usd": 0.5}]) == 0.5
    assert reported_cost([event("text", "hi", "")]) is None
