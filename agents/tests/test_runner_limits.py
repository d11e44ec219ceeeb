"""Agents that stop making progress are stopped, and executions end once nothing more can run."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.logs import storable
from agents.models import Execution, ExecutionLogEntry, StepRun
from orchestration.models import Workspace
from tests.support.agent_runs import (
    ROOT,
    RunnerThread,
    execution_finished,
    launch,
    make_template,
    pid_gone,
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


# --- What an agent prints -------------------------------------------------------------------------

LOUD_AGENT = [sys.executable, str(ROOT / "tests" / "loud_agent.py"), "{prompt}"]


@pytest.fixture
def loud_agent(settings: Any) -> list[str]:
    """``agent_type: custom`` runs ``tests/loud_agent.py``, which prints too much on purpose."""
    settings.CUSTOM_AGENT_COMMAND = LOUD_AGENT
    return LOUD_AGENT


def stored_output(execution_id: int) -> list[dict[str, Any]]:
    entries = ExecutionLogEntry.objects.filter(execution_id=execution_id, kind="output").order_by("seq")
    return list(entries.values_list("data", flat=True))


def stored_bytes(execution_id: int) -> int:
    """What the execution's log holds, as JSON text (the form every database stores it in)."""
    return sum(len(json.dumps(frame)) for frame in stored_output(execution_id))


def run_one_step(api_client: APIClient, project: dict[str, Any], node: dict[str, Any], prompt: str) -> StepRun:
    template = make_template(api_client, [("Loud", "custom", prompt)], timeout_seconds=60)
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=60)
    return StepRun.objects.get(execution_id=execution["id"])


def test_a_line_over_the_line_cap_is_stored_cut_and_marked_and_the_step_goes_on(
    api_client: APIClient, loud_agent: list[str], project: dict[str, Any], node: dict[str, Any], settings: Any
) -> None:
    settings.AGENT_LINE_MAX_BYTES = 4096
    step = run_one_step(api_client, project, node, "line 3000000")
    assert step.status == "completed", step.error
    long, after = stored_output(step.execution_id)
    assert long["data"].startswith("x" * 4096 + " [... 2995904 more bytes cut: a line is kept up to 4096 bytes")
    assert long["event"]["cut_bytes"] == 3_000_000 - 4096
    assert after["data"] == "after the long line\n"
    assert stored_bytes(step.execution_id) < 6000
    assert len(step.output or "") < 6000


def test_a_step_that_prints_more_than_its_cap_is_stopped_with_a_clear_error(
    api_client: APIClient, loud_agent: list[str], project: dict[str, Any], node: dict[str, Any], settings: Any
) -> None:
    settings.AGENT_OUTPUT_MAX_BYTES = 1_000_000
    started = time.monotonic()
    step = run_one_step(api_client, project, node, "flood")
    assert time.monotonic() - started < 20
    assert step.status == "failed"
    assert step.error == "printed more than 1000000 bytes (ORCHESTRA_AGENT_OUTPUT_MAX_BYTES); the agent was stopped"
    assert step.pid is not None and pid_gone(step.pid)
    assert 900_000 < stored_bytes(step.execution_id) < 1_100_000
    assert Workspace.objects.get(path=project["workspace_path"]).running == 0


def test_each_line_is_stored_once(
    api_client: APIClient, loud_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    step = run_one_step(api_client, project, node, "lines 500 2000")
    assert step.status == "completed", step.error
    frames = stored_output(step.execution_id)
    assert len(frames) == 500
    assert frames[7]["data"] == "00000007 " + "z" * 1990 + "\n"
    assert frames[7]["event"] == {"kind": "text", "subtype": "plain"}
    per_line = stored_bytes(step.execution_id) / 500
    assert per_line < 2000 + 250, f"{per_line:.0f} bytes stored per 2000-byte line"


def test_a_flood_of_tiny_lines_meets_the_cap_as_a_few_long_ones_do(
    api_client: APIClient, loud_agent: list[str], project: dict[str, Any], node: dict[str, Any], settings: Any
) -> None:
    settings.AGENT_OUTPUT_MAX_BYTES = 200_000  # each line counts 200 bytes beyond its text
    step = run_one_step(api_client, project, node, "tiny 100000")
    assert step.status == "failed"
    assert step.error == "printed more than 200000 bytes (ORCHESTRA_AGENT_OUTPUT_MAX_BYTES); the agent was stopped"
    stored = ExecutionLogEntry.objects.filter(execution_id=step.execution_id, kind="output")
    assert stored.count() < 1000  # not 200 000 rows for 200 KB printed
    assert not [frame for frame in stored.values_list("data", flat=True) if frame["data"].strip() == ""]


def test_a_nul_and_bytes_that_are_not_utf8_are_stored_as_replacement_characters(
    api_client: APIClient, loud_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    step = run_one_step(api_client, project, node, "odd")
    assert step.status == "completed", step.error
    first = stored_output(step.execution_id)[0]["data"]
    assert first == "before\ufffdafter \ufffd\ufffd not utf-8\n"
    assert "\x00" not in (step.output or "") and "before\ufffdafter" in (step.output or "")


def test_storable_replaces_what_no_database_takes_wherever_it_is() -> None:
    event = {"kind": "text", "text": "a \x00 b", "input": {"path": ["x\ud800y"]}, "n": 3}
    assert storable(event) == {"kind": "text", "text": "a \ufffd b", "input": {"path": ["x\ufffdy"]}, "n": 3}
    assert storable("plain ascii") == "plain ascii"
