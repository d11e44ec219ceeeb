"""A local remote is a repository the agent may have shaped (its URL comes from the workspace's
config): the hub pushes only to a bare one, and its receive-pack runs nothing the remote's own
config names."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution
from agents.tests.landing_support import Workspace, make_workspace, plain_git, started_execution, step_done

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace(project: dict[str, Any], tmp_path: Path) -> Workspace:
    return make_workspace(project, tmp_path)


def push(client: APIClient, execution: Execution) -> Any:
    return client.post(f"/projects/{execution.project_id}/executions/{execution.pk}/push", {}, format="json")


def worked(project: dict[str, Any]) -> Execution:
    execution, folder = started_execution(project)
    (folder / "feature.py").write_text("print('feature')\n")
    step_done(execution)
    return execution


def pushed(remote: Path, branch: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def test_an_alternate_refs_command_in_a_bare_remote_runs_nothing_and_the_push_lands(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    other = tmp_path / "other.git"
    subprocess.run(["git", "init", "-q", "--bare", str(other)], check=True)
    evil = tmp_path / "evil.git"
    subprocess.run(["git", "init", "-q", "--bare", str(evil)], check=True)
    plain_git(evil, "config", "core.alternateRefsCommand", f"sh -c 'touch {marker}' --")
    plain_git(evil, "config", "core.alternateRefsPrefixes", "refs/heads")
    (evil / "objects" / "info" / "alternates").write_text(f"{other / 'objects'}\n")
    plain_git(workspace.path, "config", "remote.origin.url", str(evil))
    execution = worked(project)
    response = push(api_client, execution)
    assert response.status_code == 200, response.content
    assert not marker.exists()
    branch = f"agent/exec-{execution.pk}"
    assert pushed(evil, branch) == workspace.rev(branch)


def test_a_remote_with_a_work_tree_is_refused_and_its_smudge_filter_never_runs(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    target = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(workspace.origin), str(target)], check=True)
    plain_git(target, "config", "receive.denyCurrentBranch", "updateInstead")
    plain_git(target, "config", "filter.evil.smudge", f"sh -c 'touch {marker}; cat'")
    (target / ".git" / "info" / "attributes").write_text("* filter=evil\n")
    execution = worked(project)
    branch = f"agent/exec-{execution.pk}"
    plain_git(target, "checkout", "-q", "-b", branch)
    marker.unlink(missing_ok=True)
    for url in (str(target), str(target / ".git"), f"file://{target}"):
        plain_git(workspace.path, "config", "remote.origin.url", url)
        response = push(api_client, execution)
        assert response.status_code == 409, (url, response.content)
        assert "bare repository" in response.json()["detail"]
    assert not marker.exists()
    assert not (target / "feature.py").exists()


def test_a_bare_remote_that_names_a_work_tree_is_refused(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, tmp_path: Path
) -> None:
    plain_git(workspace.origin, "config", "core.worktree", str(tmp_path / "elsewhere"))
    execution = worked(project)
    response = push(api_client, execution)
    assert response.status_code == 409 and "core.worktree" in response.json()["detail"]


def test_update_instead_in_a_bare_remote_with_a_worktree_is_refused_by_the_forced_config(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, tmp_path: Path
) -> None:
    """A bare remote may still have a linked worktree holding the branch: no push writes it."""
    marker = tmp_path / "PWNED"
    execution = worked(project)
    branch = f"agent/exec-{execution.pk}"
    linked = tmp_path / "linked"
    plain_git(workspace.origin, "worktree", "add", "-q", "-b", branch, str(linked), "main")
    plain_git(workspace.origin, "config", "receive.denyCurrentBranch", "updateInstead")
    plain_git(workspace.origin, "config", "filter.evil.smudge", f"sh -c 'touch {marker}; cat'")
    (workspace.origin / "info").mkdir(exist_ok=True)
    (workspace.origin / "info" / "attributes").write_text("* filter=evil\n")
    before = pushed(workspace.origin, branch)
    response = push(api_client, execution)
    assert response.status_code == 409, response.content
    assert not marker.exists() and not (linked / "feature.py").exists()
    assert pushed(workspace.origin, branch) == before
