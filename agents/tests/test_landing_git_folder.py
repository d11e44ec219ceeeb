"""A branch whose tree holds a path inside a ``.git`` folder (a hook, a config) is never merged:
git would never check such a path out, and the hub's own writer would put it in the workspace's
repository."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents import git_cleanroom
from agents.models import Execution
from agents.tests.landing_support import Workspace, make_workspace, plain_git, started_execution, step_done

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace(project: dict[str, Any], tmp_path: Path) -> Workspace:
    return make_workspace(project, tmp_path)


def mktree(repo: Path, entries: list[str]) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "mktree"], input="".join(f"{entry}\n" for entry in entries),
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def planted_commit(folder: Path, ref: str, name: str) -> str:
    """A commit on ``ref`` adding ``<name>/hooks/post-checkout`` and ``<name>/config``."""
    blob = subprocess.run(
        ["git", "-C", str(folder), "hash-object", "-w", "--stdin"], input="#!/bin/sh\ntouch PWNED\n",
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    hooks = mktree(folder, [f"100755 blob {blob}\tpost-checkout"])
    inner = mktree(folder, [f"040000 tree {hooks}\thooks", f"100644 blob {blob}\tconfig"])
    top = plain_git(folder, "ls-tree", ref).splitlines()
    tree = mktree(folder, [*top, f"040000 tree {inner}\t{name}"])
    commit = plain_git(folder, "commit-tree", tree, "-p", ref, "-m", "plant")
    plain_git(folder, "update-ref", ref, commit)
    return commit


@pytest.mark.parametrize("name", [".git", ".GIT", ".Git.", "git~1"])
@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_a_branch_writing_into_a_git_folder_is_a_409_and_nothing_moves(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, name: str, strategy: str
) -> None:
    execution, folder = started_execution(project)
    (folder / "feature.py").write_text("print('feature')\n")
    step_done(execution)
    # The worktree removed (git itself refuses to read such a tree into its index), the branch
    # is all that lands: the agent moved it to a commit made with plumbing.
    removed = api_client.delete(f"/projects/{execution.project_id}/executions/{execution.pk}/worktree")
    assert removed.status_code in (200, 204), removed.content
    planted_commit(workspace.path, f"refs/heads/agent/exec-{execution.pk}", name)
    before = workspace.refs()
    response = api_client.post(
        f"/projects/{execution.project_id}/executions/{execution.pk}/merge", {"strategy": strategy}, format="json"
    )
    assert response.status_code == 409, response.content
    assert ".git folder" in response.json()["detail"]
    assert f"{name}/hooks/post-checkout" in response.json()["conflicts"]
    assert workspace.refs() == before
    assert not (workspace.path / ".git" / "hooks" / "post-checkout").exists()
    assert not (workspace.path / name).exists() or name.lower().rstrip(".") == ".git"
    assert Execution.objects.get(pk=execution.pk).merged_at is None


@pytest.mark.parametrize(
    ("path", "inside"),
    [(".git/config", True), ("a/.GIT/hooks/x", True), ("GIT~1/config", True), (".git ./x", True),
     (".github/workflows/ci.yml", False), ("a.git/x", False), ("docs/.gitignore", False)],
)  # fmt: skip
def test_names_git_folder(path: str, inside: bool) -> None:
    assert git_cleanroom.names_git_folder(path) is inside
