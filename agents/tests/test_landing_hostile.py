"""A repository shaped by a hostile agent runs nothing for the hub: diff, the commit after a step,
merge and push, with programs planted in .git/config, .gitattributes, hooks and the worktree's
own configuration after the hub's first check (as a racing agent would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution
from agents.tests.landing_support import Workspace, make_workspace, plain_git, started_execution, step_done

pytestmark = pytest.mark.django_db

HOOKS = (
    "pre-commit", "commit-msg", "post-commit", "post-checkout", "post-merge", "pre-push", "reference-transaction",
    "post-index-change", "pre-receive", "post-receive", "update", "post-update", "pre-merge-commit", "post-rewrite",
)  # fmt: skip


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


@pytest.fixture
def program(tmp_path: Path, marker: Path) -> Path:
    script = tmp_path / "planted" / "evil.sh"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    script.chmod(0o755)
    return script


def plant_everything(workspace: Workspace, folder: Path, program: Path, marker: Path) -> None:
    """Every program a repository can name, in every place the agent can write."""
    repo = workspace.path
    settings = {
        "filter.evil.clean": str(program),
        "filter.evil.smudge": str(program),
        "filter.evil.process": str(program),
        "filter.evil.required": "true",
        "diff.evil.textconv": str(program),
        "diff.evil.command": str(program),
        "diff.external": str(program),
        "merge.evil.driver": f"{program} %O %A %B",
        "core.fsmonitor": str(program),
        "core.hooksPath": str(program.parent / "hooks"),
        "core.sshCommand": str(program),
        "core.askPass": str(program),
        "credential.helper": f"!{program}",
        "remote.origin.receivepack": str(program),
        "remote.origin.uploadpack": str(program),
        "commit.gpgSign": "true",
        "gpg.program": str(program),
        f"url.ext::sh -c touch% {marker}% #.pushInsteadOf": str(workspace.origin),
        f"url.ext::sh -c touch% {marker}% #.insteadOf": str(workspace.origin),
        "protocol.allow": "always",
        "extensions.worktreeConfig": "true",
    }
    for key, value in settings.items():
        plain_git(repo, "config", key, value)
    plain_git(folder, "config", "--worktree", "core.fsmonitor", str(program))
    hooks = program.parent / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in HOOKS:
        for folder_of_hooks in (hooks, repo / ".git" / "hooks", workspace.origin / "hooks"):
            (folder_of_hooks / name).write_text(program.read_text())
            (folder_of_hooks / name).chmod(0o755)
    attributes = "* filter=evil diff=evil merge=evil text\n"
    for place in (repo / ".gitattributes", folder / ".gitattributes", repo / ".git" / "info" / "attributes"):
        place.parent.mkdir(exist_ok=True)
        place.write_text(attributes)


def test_diff_commit_merge_and_push_run_nothing_the_repository_names(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path, program: Path, marker: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    # The owner changes the same file on main: merging it takes the (planted) merge driver's path.
    (workspace.path / "app.py").write_text("# owner\ndef main():\n    return 1\n")
    plain_git(workspace.path, "commit", "-q", "-am", "owner")
    plant_everything(workspace, folder, program, marker)  # after the hub's checks: the race
    (folder / "app.py").write_text("def main():\n    return 1\n\n\ndef agent():\n    return 2\n")
    step_done(execution)
    assert "filter=evil" in plain_git(workspace.path, "show", f"agent/exec-{execution.pk}:.gitattributes")
    (folder / "more.txt").write_text("uncommitted\n")
    base = f"/projects/{project['id']}/executions/{execution.pk}"
    diff = api_client.get(f"{base}/diff")
    assert diff.status_code == 200, diff.content
    assert {item["path"] for item in diff.json()["files"]} == {"app.py", "more.txt", ".gitattributes"}
    assert not marker.exists()
    # The workspace has a .gitattributes (untracked there) in the way of the merge: moved aside.
    (workspace.path / ".gitattributes").rename(tmp_path / "gitattributes")
    pushed = api_client.post(f"{base}/push", {}, format="json")
    assert pushed.status_code == 200, pushed.content
    merged = api_client.post(f"{base}/merge", {"strategy": "merge"}, format="json")
    assert merged.status_code == 200, merged.content
    assert not marker.exists()
    app = (workspace.path / "app.py").read_text()
    assert app.startswith("# owner\n") and "def agent" in app  # a real text merge, by the hub
    # The workspace's index is the merged tree, its files written by the hub (no smudge filter).
    # (The test's own git from here on would run the planted fsmonitor: the marker is checked first.)
    assert not marker.exists()
    safe = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")
    index = [line.replace(" 0\t", "\t") for line in plain_git(workspace.path, *safe, "ls-files", "-s").splitlines()]
    tree = [line.replace(" blob ", " ") for line in plain_git(workspace.path, "ls-tree", "-r", "main").splitlines()]
    assert index == tree
    assert (workspace.path / "more.txt").read_text() == "uncommitted\n"


def test_the_commit_after_a_step_and_the_diff_never_follow_links_out(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    secret_folder = tmp_path / "hub-secrets"
    secret_folder.mkdir()
    (secret_folder / "app.py").write_text("SECRET = 'the hub key'\n")
    execution, folder = started_execution(project)
    (folder / "app.py").unlink()
    (folder / "sub").symlink_to(secret_folder)
    (folder / "app.py").symlink_to(secret_folder / "app.py")
    step_done(execution)
    branch = f"agent/exec-{execution.pk}"
    stored = plain_git(workspace.path, "cat-file", "-p", f"{branch}:app.py")
    assert stored == str(secret_folder / "app.py")  # stored as a link, its target's text never read
    listing = plain_git(workspace.path, "ls-tree", branch)
    assert "120000" in listing.split("app.py")[0].splitlines()[-1]
    diff = api_client.get(f"/projects/{project['id']}/executions/{execution.pk}/diff").json()
    assert "the hub key" not in diff["patch"]


def test_a_fifo_the_agent_leaves_does_not_hang_the_hub(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    import os

    make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    os.mkfifo(folder / "pipe")
    (folder / "ok.txt").write_text("ok\n")
    execution = step_done(execution)
    diff = api_client.get(f"/projects/{project['id']}/executions/{execution.pk}/diff").json()
    assert [item["path"] for item in diff["files"]] == ["ok.txt"]
    assert isinstance(Execution.objects.get(pk=execution.pk).worktree_bytes, int)


def test_a_smudge_filter_planted_after_the_check_does_not_run_when_the_worktree_is_made(
    project: dict[str, Any], tmp_path: Path, program: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents import git

    workspace = make_workspace(project, tmp_path)
    (workspace.path / ".gitattributes").write_text("* filter=evil\n")
    (workspace.path / "link").symlink_to("app.py")
    plain_git(workspace.path, "add", "-A")
    plain_git(workspace.path, "commit", "-q", "-m", "attributes")
    checked = git.repository_open

    def racing_agent(work_tree: Path) -> git.Repository:
        repository = checked(work_tree)  # the check passes; then the agent writes its filter
        plain_git(workspace.path, "config", "filter.evil.smudge", str(program))
        plain_git(workspace.path, "config", "filter.evil.required", "true")
        return repository

    monkeypatch.setattr(git, "repository_open", racing_agent)
    _execution, folder = started_execution(project)
    assert not marker.exists()
    assert (folder / "app.py").read_text() == "def main():\n    return 1\n"
    assert (folder / "link").is_symlink() and str((folder / "link").readlink()) == "app.py"
    index = plain_git(folder, "-c", "filter.evil.smudge=cat", "-c", "filter.evil.clean=cat", "ls-files", "-s")
    assert "app.py" in index and ".gitattributes" in index
    assert not marker.exists()
