"""``pinned_folder``: an agent starts in the folder that was checked, whatever happens to its path
after the check; a link swapped in before the folder is opened is refused. Real folders, real
links, real agent processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import StepRun
from agents.runner import worker
from agents.runner.process import AgentProcess
from orchestra_site.api.exceptions import InvalidInput
from projects.workspaces import pinned_folder, validate_workspace_path
from tests.support.agent_runs import RunnerThread, execution_finished, launch, make_template, wait_for

PRINT_CWD = [sys.executable, "-c", "import os; print(os.getcwd())"]


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the allowed roots (the test's ``tmp_path``), with a ``ws`` folder in it."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "ws").mkdir()
    return folder


def swap_for_link(path: Path, target: Path) -> Path:
    """Move the real folder aside and put a link to ``target`` where it was; returns where it went."""
    moved = path.with_name(path.name + "-moved")
    path.rename(moved)
    path.symlink_to(target)
    return moved


def agent_cwd(folder: Path) -> str:
    process = AgentProcess(PRINT_CWD, cwd=folder, env={})
    lines = [line.text.strip() for line in process.read(timeout=20)]
    process.wait(10)
    process.kill_tree()
    return lines[0]


@pytest.mark.django_db
def test_the_agent_runs_in_the_pinned_folder_even_if_a_link_replaces_its_path(tmp_path: Path, outside: Path) -> None:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    checked = validate_workspace_path(str(workspace), project_id=None)
    with pinned_folder(checked) as folder:
        moved = swap_for_link(workspace, outside / "ws")  # between the open and the agent's start
        cwd = agent_cwd(folder)
    assert cwd == str(moved)  # the real folder, wherever it went; never the link's target
    assert cwd != str(outside / "ws")


@pytest.mark.django_db
@pytest.mark.parametrize("swapped", ["the folder itself", "a folder above it"])
def test_a_link_swapped_in_after_the_check_is_refused_when_pinning(tmp_path: Path, outside: Path, swapped: str) -> None:
    workspace = tmp_path / "base" / "ws"
    workspace.mkdir(parents=True)
    checked = validate_workspace_path(str(workspace), project_id=None)
    if swapped == "the folder itself":
        swap_for_link(workspace, outside / "ws")
    else:
        swap_for_link(workspace.parent, outside)  # base -> outside, so base/ws leads to outside/ws
    with pytest.raises(InvalidInput, match=f"The agent's folder {checked}"):
        with pinned_folder(checked):
            raise AssertionError("pinned a folder outside the roots")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("swapped", ["the folder itself", "a folder above it"])
def test_a_step_whose_workspace_is_swapped_right_after_its_check_never_runs_outside(
    api_client: APIClient,
    fake_agent: list[str],
    tmp_path: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
    swapped: str,
) -> None:
    workspace = tmp_path / "base" / "ws"
    project = api_client.post("/projects", {"name": "Raced", "workspace_path": str(workspace)}, format="json").json()
    node = api_client.post(f"/projects/{project['id']}/nodes", {"title": "N"}, format="json").json()
    checked_cwd = worker.execution_cwd

    def check_then_swap(execution: Any) -> Path:
        cwd = checked_cwd(execution)  # the check passed; an attacker swaps the path right now
        swap_for_link(workspace, outside / "ws") if swapped == "the folder itself" else swap_for_link(
            workspace.parent, outside
        )
        return cwd

    monkeypatch.setattr(worker, "execution_cwd", check_then_swap)
    execution = launch(api_client, project, node, make_template(api_client, [("S", "custom", "0")]))
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=30)
    step = StepRun.objects.get(execution_id=execution["id"])
    assert (step.status, step.pid) == ("failed", None)
    assert step.error.startswith(f"The agent's folder {workspace}")
    assert os.listdir(outside / "ws") == []
