"""The runner runs the real CLIs (against the fake model server) and writes back what they did."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, ExecutionLogEntry, StepRun
from orchestration.models import Workspace
from tests.fake_model_server import FakeModelServer
from tests.support.agent_runs import RunnerThread, execution_finished, launch, make_template, wait_for

pytestmark = [pytest.mark.cli, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("agent_type", ["claude", "codex", "gemini"])
def test_each_cli_completes_with_the_models_text_and_tokens(
    api_client: APIClient, clis: FakeModelServer, project: dict[str, Any], node: dict[str, Any], agent_type: str
) -> None:
    template = make_template(api_client, [("Answer", agent_type, "Say something about {{node.title}}")])
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))

    done = Execution.objects.get(pk=execution["id"])
    step = StepRun.objects.get(execution=done)
    assert (done.status, step.status, step.error) == ("completed", "completed", None)
    assert step.output == "The fake model's answer."
    calls = len(clis.model_requests())  # gemini may ask twice (e.g. a next-speaker check); tokens add up
    assert calls >= 1
    assert (step.input_tokens, step.output_tokens, step.exit_code) == (11 * calls, 7 * calls, 0)
    assert done.started_at and done.finished_at and step.started_at and step.finished_at
    assert "Say something about Fix the parser" in clis.user_texts()
    assert Workspace.objects.get(path=project["workspace_path"]).running == 0

    kinds = list(ExecutionLogEntry.objects.filter(execution=done).values_list("kind", flat=True))
    assert kinds[0] == "step_start" and kinds[-2:] == ["step_complete", "status"]
    assert "output" in kinds
    complete = ExecutionLogEntry.objects.get(execution=done, kind="step_complete").data
    assert (complete["step_name"], complete["success"], complete["output"]) == (
        "Answer",
        True,
        "The fake model's answer.",
    )
    seqs = list(ExecutionLogEntry.objects.filter(execution=done).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_fan_in_step_gets_its_parents_outputs(
    api_client: APIClient, clis: FakeModelServer, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(
        api_client,
        [
            ("Left", "claude", "left side"),
            ("Right", "codex", "right side"),
            ("Join", "claude", "L={{Left}} R={{Right}}"),
        ],
        [(0, 2), (1, 2)],
    )
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=90)

    steps = {s.name: s for s in StepRun.objects.filter(execution_id=execution["id"])}
    assert {name: s.status for name, s in steps.items()} == {
        "Left": "completed",
        "Right": "completed",
        "Join": "completed",
    }
    assert steps["Join"].started_at >= max(steps["Left"].finished_at, steps["Right"].finished_at)
    answer = "The fake model's answer."
    assert f"L={answer} R={answer}" in clis.user_texts()
    assert steps["Join"].prompt == "L={{Left}} R={{Right}}"  # the stored prompt is not rewritten


def test_a_prompt_that_starts_with_dashes_stays_a_prompt(
    api_client: APIClient, clis: FakeModelServer, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(
        api_client, [("A", "claude", "--version"), ("B", "codex", "--help me"), ("C", "gemini", "-p --yolo")]
    )
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=90)
    assert set(StepRun.objects.filter(execution_id=execution["id"]).values_list("status", flat=True)) == {"completed"}
    assert {"--version", "--help me", "-p --yolo"} <= set(clis.user_texts())


def test_a_run_is_really_run_and_follows_its_agent(
    api_client: APIClient, clis: FakeModelServer, project: dict[str, Any], node: dict[str, Any]
) -> None:
    response = api_client.post(
        f"/projects/{project['id']}/runs",
        {"node_id": node["id"], "agent_type": "claude", "prompt": "run me"},
        format="json",
    )
    run = response.json()
    assert run["status"] == "queued"
    with RunnerThread():
        wait_for(lambda: api_client.get(f"/projects/{project['id']}/runs/{run['id']}").json()["status"] == "completed")
    finished = api_client.get(f"/projects/{project['id']}/runs/{run['id']}").json()
    assert finished["output"] == "The fake model's answer."
    assert finished["started_at"] and finished["finished_at"]
    assert "run me" in clis.user_texts()
