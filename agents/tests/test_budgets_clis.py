"""Budgets with the real CLIs against a fake model whose usage is expensive (100k output tokens a call).

claude stops itself at ``--max-budget-usd`` (after the first call, a tool call, it makes no second);
codex and gemini report their usage only at the end of their run, so the hub prices it and records
the overrun. Either way the step run and its execution end ``budget_exceeded`` and what follows is
skipped; the spend counts against the workspace's day, and a launch past the daily budget is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, StepRun
from tests.fake_model_server import FakeModelServer
from tests.support.agent_runs import RunnerThread, execution_finished, point_clis_at, wait_for

pytestmark = [pytest.mark.cli, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def costly_clis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any) -> Iterator[FakeModelServer]:
    # 100k output tokens a call: $1.5 at claude-sonnet's list price and at the hub's default price.
    with FakeModelServer(text="Done.", output_tokens=100_000, tool_command="echo hi") as server:
        point_clis_at(server, monkeypatch, tmp_path / "home", settings)
        yield server


def launch_budgeted(client: APIClient, project: dict, node: dict, agent_type: str, budget: float) -> dict:
    body = {
        "name": f"budget-{agent_type}",
        "steps": [
            {"name": "Spend", "agent_type": agent_type, "prompt_template": "spend it", "max_budget_usd": budget},
            {"name": "After", "agent_type": agent_type, "prompt_template": "never"},
        ],
        "edges": [{"parent_id": 0, "child_id": 1}],
    }
    template = client.post("/agent-templates", body, format="json").json()
    url = f"/projects/{project['id']}/nodes/{node['id']}/launch"
    response = client.post(url, {"template_id": template["id"]}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.parametrize("agent_type", ["claude", "codex", "gemini"])
def test_an_agent_over_its_budget_is_recorded_budget_exceeded_and_what_follows_is_skipped(
    api_client: APIClient, costly_clis: FakeModelServer, project: dict, node: dict, agent_type: str
) -> None:
    execution = launch_budgeted(api_client, project, node, agent_type, 0.5)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=120)
    steps = {s.name: s for s in StepRun.objects.filter(execution_id=execution["id"])}
    spend = steps["Spend"]
    assert (spend.status, steps["After"].status) == ("budget_exceeded", "skipped"), spend.error
    assert spend.error is not None and "budget exceeded" in spend.error and "$0.5000" in spend.error
    assert spend.cost_usd is not None and spend.cost_usd > 0.5
    done = Execution.objects.get(pk=execution["id"])
    assert (done.status, done.error) == ("budget_exceeded", "budget exceeded: Spend")
    if agent_type == "claude":  # stopped at the limit by its own --max-budget-usd: no second call
        assert len(costly_clis.model_requests()) == 1
    body = api_client.get(f"/projects/{project['id']}/executions/{execution['id']}").json()
    assert body["spent_usd"] == pytest.approx(spend.cost_usd)


def test_a_spent_daily_budget_stops_the_next_launch(
    api_client: APIClient, costly_clis: FakeModelServer, project: dict, node: dict, settings: Any
) -> None:
    settings.WORKSPACE_DAILY_BUDGET_USD = 1.0
    execution = launch_budgeted(api_client, project, node, "claude", 100.0)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=120)
    spend = StepRun.objects.get(execution_id=execution["id"], name="Spend")
    assert spend.status == "budget_exceeded"  # the day's $1 was its limit, under its own $100
    assert "ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD" in (spend.error or "")
    url = f"/projects/{project['id']}/nodes/{node['id']}/launch"
    refused = api_client.post(url, {"template_id": execution["template_id"]}, format="json")
    assert refused.status_code == 409 and "daily budget" in refused.json()["detail"]
