"""The setpoint, cancel, timeouts, racing runners and crashed runners, with real processes."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from agents.models import Execution, ExecutionLogEntry, StepRun
from agents.runner import recovery
from orchestration.models import Workspace
from orchestration.services import workspace_set_desired
from tests.support.agent_runs import (
    FAKE_AGENT,
    ROOT,
    RunnerThread,
    execution_finished,
    launch,
    make_template,
    pid_gone,
    running_step,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def custom_steps(count: int, seconds: float) -> list[tuple[str, str, str]]:
    return [(f"S{i}", "custom", f"{seconds}") for i in range(count)]


@pytest.mark.cli
def test_cancel_stops_a_slow_agent_and_leaves_no_process(
    api_client: APIClient, slow_clis: Any, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("Slow", "claude", "take your time")])
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        step = wait_for(running_step(execution["id"]))
        response = api_client.post(f"/projects/{project['id']}/executions/{execution['id']}/cancel")
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"
        wait_for(lambda: pid_gone(step.pid), timeout=30)
        wait_for(lambda: Workspace.objects.get(path=project["workspace_path"]).running == 0, timeout=30)
    step.refresh_from_db()
    assert step.status == "skipped"
    assert Execution.objects.get(pk=execution["id"]).status == "cancelled"


@pytest.mark.cli
def test_a_step_that_runs_too_long_is_stopped_and_says_so(
    api_client: APIClient, slow_clis: Any, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("Slow", "claude", "take your time")], timeout_seconds=3)
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        step = wait_for(running_step(execution["id"]))
        wait_for(execution_finished(execution["id"]), timeout=60)
    step.refresh_from_db()
    assert step.status == "failed"
    assert step.error.startswith("timed out after 3s")
    assert pid_gone(step.pid)
    assert Execution.objects.get(pk=execution["id"]).status == "failed"


def test_desired_one_never_runs_two_agents_at_once(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, custom_steps(1, 0.6))
    executions = [launch(api_client, project, node, template) for _ in range(3)]
    seen: list[int] = []
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            seen.append(StepRun.objects.filter(status="running").count())
        connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    with RunnerThread():
        for execution in executions:
            wait_for(execution_finished(execution["id"]))
    watching.set()
    watcher.join()
    assert max(seen) == 1
    steps = list(StepRun.objects.order_by("started_at"))
    assert [s.status for s in steps] == ["completed"] * 3
    assert [s.execution_id for s in steps] == [e["id"] for e in executions]  # in launch order
    for earlier, later in itertools.pairwise(steps):
        assert later.started_at >= earlier.finished_at


def test_lowering_desired_drains_and_raising_it_starts_the_rest(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    workspace_set_desired(path=project["workspace_path"], desired=0)
    execution = launch(api_client, project, node, make_template(api_client, custom_steps(2, 0.2)))
    with RunnerThread():
        time.sleep(1)  # several runner cycles: nothing may start while desired is 0
        assert set(StepRun.objects.values_list("status", flat=True)) == {"pending"}
        workspace_set_desired(path=project["workspace_path"], desired=2)
        wait_for(execution_finished(execution["id"]))
    assert Execution.objects.get(pk=execution["id"]).status == "completed"


def runner_process(database: str) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")},
        "ORCHESTRA_DATABASE_URL": database,
        "ORCHESTRA_CUSTOM_AGENT_COMMAND": ",".join([*FAKE_AGENT, "{prompt}"]),
        "ORCHESTRA_WORKSPACE_ROOTS": ",".join(str(r) for r in django_settings.WORKSPACE_ROOTS),
        "ORCHESTRA_DATA_DIR": str(django_settings.DATA_DIR),
        "ORCHESTRA_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "runagents"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.slow
def test_two_runner_processes_never_start_a_step_twice_nor_exceed_desired(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any]
) -> None:
    workspace_set_desired(path=project["workspace_path"], desired=2)
    template = make_template(api_client, custom_steps(4, 0.3))
    executions = [launch(api_client, project, node, template) for _ in range(3)]
    seen: list[int] = []
    runners = [runner_process(database_url()) for _ in range(2)]
    try:
        for execution in executions:

            def finished(execution_id: int = execution["id"]) -> bool:
                seen.append(StepRun.objects.filter(status="running").count())
                return Execution.objects.get(pk=execution_id).is_finished

            wait_for(
                finished,
                timeout=120,
                every=0.05,
            )
    finally:
        for runner in runners:
            runner.send_signal(signal.SIGTERM)
        outputs = [runner.communicate(timeout=60)[0] for runner in runners]
    assert all(runner.returncode == 0 for runner in runners), outputs
    assert max(seen) <= 2
    steps = StepRun.objects.all()
    assert set(steps.values_list("status", flat=True)) == {"completed"}
    starts = list(ExecutionLogEntry.objects.filter(kind="step_start").values_list("step_run_id", flat=True))
    assert sorted(starts) == sorted(steps.values_list("pk", flat=True))  # each step started exactly once
    assert len(set(steps.values_list("runner_id", flat=True))) == 2  # both runners took work


@pytest.mark.slow
def test_a_killed_runner_leaves_its_steps_crashed_its_agent_ended_and_its_slot_free(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, custom_steps(1, 60)))
    runner = runner_process(database_url())
    step = wait_for(running_step(execution["id"]), timeout=60)
    runner.send_signal(signal.SIGKILL)
    runner.wait(10)
    wait_for(lambda: pid_gone(step.pid), timeout=5)  # the agent dies with its runner, on any machine

    assert recovery.reap_dead_runners(me=None) == 1  # and another runner settles its step
    step.refresh_from_db()
    assert (step.status, step.crashed) == ("failed", True)
    assert step.error.startswith(f"crashed: the runner {socket.gethostname()}:{runner.pid} exited while the agent ran")
    assert Workspace.objects.get(path=project["workspace_path"]).running == 0
    assert Execution.objects.get(pk=execution["id"]).status == "failed"


def test_an_agent_never_sees_the_hubs_secrets(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    from agents.environment import child_environment

    monkeypatch.setenv("ORCHESTRA_SECRET_KEY", "hub-secret")
    monkeypatch.setenv("ORCHESTRA_DATABASE_URL", "postgres://u:pw@db/x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "agent-key")
    monkeypatch.setenv("MY_TOOL_TOKEN", "mine")
    settings.AGENT_ENV_PASSTHROUGH = ["MY_TOOL_TOKEN"]
    env = child_environment(
        template_env={"ORCHESTRA_TASK_FEATURE": "on", "ORCHESTRA_SECRET_KEY": "spoof"},
        extra={"MAX_THINKING_TOKENS": "8000"},
        step_run_id=7,
    )
    assert env["ANTHROPIC_API_KEY"] == "agent-key"
    assert env["MY_TOOL_TOKEN"] == "mine"
    assert env["ORCHESTRA_TASK_FEATURE"] == "on"
    assert env["MAX_THINKING_TOKENS"] == "8000"
    assert env["ORCHESTRA_STEP_RUN"] == "7"
    assert not {"ORCHESTRA_SECRET_KEY", "ORCHESTRA_DATABASE_URL", "AWS_SECRET_ACCESS_KEY"} & set(env)


def test_a_workspace_outside_the_roots_fails_the_step_clearly(
    api_client: APIClient,
    fake_agent: list[str],
    project: dict[str, Any],
    node: dict[str, Any],
    settings: Any,
    tmp_path: Path,
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, custom_steps(1, 0)))
    settings.WORKSPACE_ROOTS = [tmp_path / "elsewhere"]
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    step = StepRun.objects.get(execution_id=execution["id"])
    assert step.status == "failed"
    assert "outside ORCHESTRA_WORKSPACE_ROOTS" in step.error
    assert Workspace.objects.get(path=project["workspace_path"]).running == 0


def test_a_failed_step_skips_its_dependents_and_fails_the_execution(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(
        api_client,
        [("Breaks", "custom", "fail"), ("After", "custom", "0"), ("Beside", "custom", "0")],
        [(0, 1)],
    )
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    steps = {s.name: s for s in StepRun.objects.filter(execution_id=execution["id"])}
    assert (steps["Breaks"].status, steps["Breaks"].exit_code, steps["Breaks"].crashed) == ("failed", 3, False)
    assert "something went wrong" in steps["Breaks"].error
    assert (steps["After"].status, steps["After"].error) == ("skipped", "skipped: upstream step 'Breaks' failed")
    assert steps["Beside"].status == "completed"
    done = Execution.objects.get(pk=execution["id"])
    assert (done.status, done.error) == ("failed", "step(s) failed: Breaks")


def test_create_worktree_runs_the_agents_in_a_git_worktree_on_its_branch(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    repo = Path(project["workspace_path"])
    for args in (
        ["init", "-q", "-b", "main"],
        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "start"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    template = make_template(api_client, custom_steps(1, 0))
    response = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch",
        {"template_id": template["id"], "create_worktree": True},
        format="json",
    )
    execution = response.json()
    assert execution["worktree_branch"] == f"agent/exec-{execution['id']}"
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    step = StepRun.objects.get(execution_id=execution["id"])
    assert step.status == "completed", step.error
    assert step.output == f"done: 0 in {execution['worktree_path']}"
    branches = subprocess.run(["git", "-C", str(repo), "branch", "--list"], capture_output=True, text=True).stdout
    assert f"agent/exec-{execution['id']}" in branches


def test_create_worktree_outside_a_git_repository_fails_clearly(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, custom_steps(1, 0))
    response = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch",
        {"template_id": template["id"], "create_worktree": True},
        format="json",
    )
    with RunnerThread():
        wait_for(execution_finished(response.json()["id"]))
    step = StepRun.objects.get(execution_id=response.json()["id"])
    assert step.status == "failed"
    assert step.error.startswith("create_worktree:") and "not a git repository" in step.error


def test_steps_whose_edges_form_a_cycle_fail_instead_of_waiting_forever(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, custom_steps(2, 0), [(0, 1), (1, 0)]))
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=30)
    done = Execution.objects.get(pk=execution["id"])
    assert done.status == "failed"
    assert done.error == "the step edges form a cycle: S0, S1"
