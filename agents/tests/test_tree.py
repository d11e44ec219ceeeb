"""Cancel, timeouts and recovery end the agent and every descendant, ``setsid`` ones included,
with the agent in a cgroup of its own and, on a machine without one, by the process table."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.environment import STEP_RUN_ENV
from agents.models import Execution, StepRun
from agents.runner import recovery, tree
from agents.runner.process import AgentProcess, run_to_completion
from orchestra_site.models import HubProcess
from tests.support.agent_runs import ROOT, RunnerThread, launch, make_template, running_step, wait_for

SETSID_AGENT = [sys.executable, str(ROOT / "tests" / "setsid_agent.py")]


def gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def setsid_child(pid_file: Path) -> int:
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=20, every=0.02)
    child = int(pid_file.read_text())
    assert os.getsid(child) == child  # it left the agent's session and group
    return child


@pytest.fixture(params=["cgroup", "process table"])
def kill_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test runs with an agent cgroup and again as on a machine that has none."""
    if request.param == "cgroup":
        if tree.cgroup_parent() is None:
            pytest.skip("this machine gives the hub no writable cgroup v2")
    else:
        monkeypatch.setattr(tree, "_parent_checked", True)
        monkeypatch.setattr(tree, "_parent", None)
    yield request.param


def start_setsid_agent(tmp_path: Path, *, step_run: int | None = 424242) -> tuple[AgentProcess, int]:
    env = {"PATH": os.environ["PATH"]}
    if step_run is not None:
        env[STEP_RUN_ENV] = str(step_run)
    pid_file = tmp_path / "setsid.pid"
    process = AgentProcess([*SETSID_AGENT, str(pid_file)], cwd=tmp_path, env=env)
    return process, setsid_child(pid_file)


def test_stop_ends_a_descendant_that_left_the_group_with_setsid(kill_by: str, tmp_path: Path) -> None:
    process, child = start_setsid_agent(tmp_path)
    assert (process.cgroup is not None) == (kill_by == "cgroup")
    process.stop(grace=0.5)  # the agent dies of its SIGTERM: its child is re-parented to init
    assert gone(child)
    assert process.cgroup is None or not process.cgroup.path.exists()  # its cgroup is removed too


def test_stop_without_a_marker_ends_the_descendants_the_leader_still_links(kill_by: str, tmp_path: Path) -> None:
    process, child = start_setsid_agent(tmp_path, step_run=None)
    process.kill_tree()  # as when the grace ran out: the leader still lives, its child is linked to it
    assert gone(child)
    assert gone(process.pid)


def test_a_planner_run_that_times_out_leaves_no_setsid_child(kill_by: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "setsid.pid"
    env = {"PATH": os.environ["PATH"], STEP_RUN_ENV: "0"}  # as the planner's: no step run
    done = run_to_completion([*SETSID_AGENT, str(pid_file)], cwd=tmp_path, env=env, timeout=1)
    assert done.timed_out
    assert gone(int(pid_file.read_text()))


def test_end_orphan_kills_what_a_dead_runner_left_even_after_its_leader_died(kill_by: str, tmp_path: Path) -> None:
    process, child = start_setsid_agent(tmp_path, step_run=777001)
    bystander = subprocess.Popen(["sleep", "1000"], start_new_session=True)  # not ours: must live on
    try:
        os.kill(process.pid, 9)
        process.wait(5)  # the leader is gone and reaped; only the marker (or the cgroup) finds its child
        recovery.end_orphan(StepRun(pk=777001, pid=process.pid, runner=HubProcess(pid=os.getpid())))
        assert gone(child)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        process.kill_tree()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancel_and_timeout_through_the_runner_end_the_setsid_child(
    how: str,
    kill_by: str,
    api_client: APIClient,
    project: dict[str, Any],
    node: dict[str, Any],
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.CUSTOM_AGENT_COMMAND = [*SETSID_AGENT, "{prompt}"]
    pid_file = tmp_path / "setsid.pid"
    limits: dict[str, Any] = {"timeout_seconds": 2} if how == "timeout" else {}
    template = make_template(api_client, [("Escapes", "custom", str(pid_file))], **limits)
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        step = wait_for(running_step(execution["id"]), timeout=20, every=0.02)
        child = setsid_child(pid_file)
        if how == "cancel":
            response = api_client.post(f"/projects/{project['id']}/executions/{execution['id']}/cancel")
            assert response.status_code == 200
        wait_for(lambda: gone(child) and gone(step.pid), timeout=20, every=0.05)
        wait_for(lambda: Execution.objects.get(pk=execution["id"]).is_finished, timeout=20, every=0.05)
