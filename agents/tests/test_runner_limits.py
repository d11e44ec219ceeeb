"""Agents that stop making progress are stopped, and executions end once nothing more can run."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, ExecutionLogEntry, StepRun
from orchestration.models import Workspace
from tests.support.agent_runs import (
    RunnerThread,
    execution_finished,
    launch,
    make_template,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_silent_agent_is_stopped_at_the_idle_limit_and_frees_its_slot(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("Silent", "custom", "quiet 60")], idle_timeout_seconds=1)
    execution = launch(api_client, project, node, template)
    started = time.monotonic()
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=30)
    assert time.monotonic() - started < 20
    step = StepRun.objects.get(execution_id=execution["id"])
    assert step.status == "failed"
    assert step.error.startswith("no output for 1s (the idle limit")
    assert Execution.objects.get(pk=execution["id"]).status == "failed"
    assert Workspace.objects.get(path=project["workspace_path"]).running == 0
    logged = ExecutionLogEntry.objects.filter(execution_id=execution["id"]).values_list("data", flat=True)
    assert any("no output for 1s" in str(frame) for frame in logged)


def test_the_hub_setting_is_the_default_idle_limit(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any], settings: Any
) -> None:
    settings.STEP_IDLE_TIMEOUT = 1
    execution = launch(
        api_client,
        project,
        node,
        make_template(api_client, [("Talks", "custom", "2"), ("Quiet", "custom", "quiet 60")]),
    )
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=30)
    steps = {step.name: step for step in StepRun.objects.filter(execution_id=execution["id"])}
    assert steps["Talks"].status == "completed"  # a line every half second is progress
    assert (steps["Quiet"].status, steps["Quiet"].error[:19]) == ("failed", "no output for 1s (t")


def test_an_execution_ends_as_soon_as_none_of_its_remaining_steps_can_run(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("First", "custom", "0"), ("Then", "custom", "0")], edges=[(0, 1)])
    execution = launch(api_client, project, node, template)
    # Skipped outside the runner (an operator, an older hub): "Then" can never run now.
    StepRun.objects.filter(execution_id=execution["id"], name="First").update(status="skipped")
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=30)
    then = StepRun.objects.get(execution_id=execution["id"], name="Then")
    assert (then.status, then.error, then.pid) == ("skipped", "skipped: upstream step 'First' skipped", None)
