"""POST .../merge: an execution's branch lands on the branch it started from, or nothing moves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, ExecutionStatus
from agents.tests.landing_support import (
    Workspace,
    commit_all,
    finished,
    make_workspace,
    plain_git,
    started_execution,
    step_done,
)
from orchestra_site.realtime import events as realtime_events

pytestmark = pytest.mark.django_db


def merge(client: APIClient, execution: Execution, body: dict[str, Any]) -> Any:
    return client.post(f"/projects/{execution.project_id}/executions/{execution.pk}/merge", body, format="json")


@pytest.fixture
def workspace(project: dict[str, Any], tmp_path: Path) -> Workspace:
    return make_workspace(project, tmp_path)


def agent_edits(project: dict[str, Any]) -> tuple[Execution, Path]:
    execution, folder = started_execution(project)
    (folder / "app.py").write_text("def main():\n    return 1\n\n\ndef added():\n    return 2\n")
    (folder / "notes.md").write_text("notes\n")
    step_done(execution, "Write code")
    (folder / "later.txt").write_text("uncommitted\n")  # left after the last step
    return execution, folder


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_each_strategy_lands_the_work_and_the_checked_out_workspace_follows(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, strategy: str
) -> None:
    execution, _ = agent_edits(project)
    start = workspace.rev("main")
    response = merge(api_client, execution, {"strategy": strategy})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {"target": "main", "commit": workspace.rev("main"), "strategy": strategy}
    parents = plain_git(workspace.path, "log", "-1", "--format=%P", "main").split()
    branch_tip = workspace.rev(f"agent/exec-{execution.pk}")
    if strategy == "merge":
        assert parents == [start, branch_tip]
    elif strategy == "squash":
        assert parents == [start]
        assert "Write code" in plain_git(workspace.path, "log", "-1", "--format=%B", "main")
    else:
        assert workspace.rev("main") == branch_tip  # the target had not moved: a fast-forward
    # The workspace has main checked out: its files and index follow, nothing left to commit.
    assert (workspace.path / "later.txt").read_text() == "uncommitted\n"
    assert "def added" in (workspace.path / "app.py").read_text()
    assert plain_git(workspace.path, "status", "--porcelain") == ""
    execution.refresh_from_db()
    assert execution.merged_commit == body["commit"] and execution.merged_at is not None


def test_a_moved_target_is_merged_and_rebased_onto(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution, _ = agent_edits(project)
    (workspace.path / "README.md").write_text("# App\n\nMoved on.\n")
    moved = commit_all(workspace.path, "the owner moved main on")
    response = merge(api_client, execution, {"strategy": "rebase"})
    assert response.status_code == 200, response.content
    log = plain_git(workspace.path, "log", "--format=%an|%s", f"{moved}..main").splitlines()
    assert log[-1].startswith("Orchestra Hub|Write code")
    assert plain_git(workspace.path, "merge-base", "--is-ancestor", moved, "main") == ""
    assert (workspace.path / "README.md").read_text() == "# App\n\nMoved on.\n"
    assert (workspace.path / "notes.md").exists()
    assert plain_git(workspace.path, "status", "--porcelain") == ""


def conflicting(project: dict[str, Any], workspace: Workspace) -> Execution:
    execution, folder = started_execution(project)
    (folder / "app.py").write_text("def main():\n    return 'agent'\n")
    step_done(execution)
    (workspace.path / "app.py").write_text("def main():\n    return 'owner'\n")
    commit_all(workspace.path, "owner")
    return execution


@pytest.mark.parametrize("strategy", ["merge", "squash", "rebase"])
def test_a_conflict_is_a_409_listing_the_files_and_nothing_changes(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, strategy: str
) -> None:
    execution = conflicting(project, workspace)
    before = workspace.refs()
    response = merge(api_client, execution, {"strategy": strategy})
    assert response.status_code == 409, response.content
    assert response.json()["conflicts"] == ["app.py"]
    assert "conflict" in response.json()["detail"].lower()
    assert workspace.refs() == before
    execution.refresh_from_db()
    assert execution.merged_at is None


def test_a_file_added_on_both_sides_and_a_delete_against_an_edit_conflict(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution, folder = started_execution(project)
    (folder / "both.txt").write_text("agent\n")
    (folder / "README.md").unlink()
    step_done(execution)
    (workspace.path / "both.txt").write_text("owner\n")
    (workspace.path / "README.md").write_text("# App, edited\n")
    commit_all(workspace.path, "owner")
    before = workspace.refs()
    response = merge(api_client, execution, {"strategy": "merge"})
    assert response.status_code == 409
    assert sorted(response.json()["conflicts"]) == ["README.md", "both.txt"]
    assert workspace.refs() == before


def test_local_changes_in_the_checked_out_target_are_a_409(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution, _ = agent_edits(project)
    (workspace.path / "README.md").write_text("the owner's unsaved work\n")
    (workspace.path / "notes.md").write_text("an untracked file in the way\n")
    before = workspace.refs()
    response = merge(api_client, execution, {"strategy": "merge"})
    assert response.status_code == 409
    assert response.json()["conflicts"] == ["README.md"]
    assert workspace.refs() == before
    (workspace.path / "README.md").write_text("# App\n")
    response = merge(api_client, execution, {"strategy": "merge"})
    assert response.status_code == 409
    assert response.json()["conflicts"] == ["notes.md"]
    assert (workspace.path / "notes.md").read_text() == "an untracked file in the way\n"


def test_a_target_not_checked_out_is_moved_without_touching_the_workspace(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution, _ = agent_edits(project)
    plain_git(workspace.path, "checkout", "-q", "-b", "other")
    response = merge(api_client, execution, {"strategy": "squash"})
    assert response.status_code == 200
    assert workspace.rev("main") == response.json()["commit"]
    assert workspace.rev("HEAD") != workspace.rev("main")
    assert not (workspace.path / "notes.md").exists()
    assert plain_git(workspace.path, "status", "--porcelain") == ""


def test_merging_twice_or_nothing_new_is_a_409(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution = finished(started_execution(project)[0])
    response = merge(api_client, execution, {"strategy": "merge"})
    assert response.status_code == 409 and "nothing to merge" in response.json()["detail"]
    execution, _ = agent_edits(project)
    assert merge(api_client, execution, {"strategy": "merge"}).status_code == 200
    again = merge(api_client, execution, {"strategy": "merge"})
    assert again.status_code == 409 and "already merged" in again.json()["detail"]


def test_a_deleted_target_is_a_409(api_client: APIClient, project: dict[str, Any], workspace: Workspace) -> None:
    execution, _ = agent_edits(project)
    plain_git(workspace.path, "checkout", "-q", "--detach")
    plain_git(workspace.path, "branch", "-q", "-D", "main")
    before = workspace.refs()
    response = merge(api_client, execution, {"strategy": "merge"})
    assert response.status_code == 409 and "no longer exists" in response.json()["detail"]
    assert workspace.refs() == before


def test_without_a_worktree_or_while_running_merging_is_a_409_saying_why(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution, _ = started_execution(project, worktree=False)
    response = merge(api_client, execution, {"strategy": "merge"})
    assert response.status_code == 409
    assert "not in a worktree and branch of its own" in response.json()["detail"]
    running, _ = agent_edits(project)
    Execution.objects.filter(pk=running.pk).update(status=ExecutionStatus.RUNNING)
    response = merge(api_client, running, {"strategy": "merge"})
    assert response.status_code == 409 and "running" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "octopus"}, "strategy"),
        ({}, "strategy"),
        ({"strategy": "--no-verify"}, "strategy"),
        ({"strategy": "merge", "message": 5}, "message"),
        ({"strategy": "merge", "message": ""}, "message"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_changes(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, body: dict[str, Any], field: str
) -> None:
    execution, _ = agent_edits(project)
    before = workspace.refs()
    response = merge(api_client, execution, body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}:")
    assert workspace.refs() == before


def test_a_merge_says_so_on_the_project_socket(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution, _ = agent_edits(project)
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("agents.events.broadcast_event", lambda group, kind, data: sent.append((kind, data)))
    body = merge(api_client, execution, {"strategy": "squash", "message": "Land it"}).json()
    assert ("execution.merged", {"id": execution.pk, **body}) in sent
    updated = [data for kind, data in sent if kind == "execution.updated"]
    assert updated[-1]["merged_commit"] == body["commit"] and updated[-1]["base_ref"] == "main"
    assert plain_git(workspace.path, "log", "-1", "--format=%s", "main") == "Land it"
    assert realtime_events is not None


def test_a_target_that_moves_while_merging_is_a_409_and_the_leftovers_are_undone(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents import git_cleanroom

    execution, _ = agent_edits(project)  # leaves uncommitted work: committed on the branch, then undone
    branch_before = workspace.rev(f"agent/exec-{execution.pk}")
    real_update = git_cleanroom.update_ref

    def owner_commits_first(repository: Any, ref: str, new: str, old: str, *, reason: str) -> bool:
        if ref == "refs/heads/main":
            plain_git(workspace.path, "commit", "-q", "--allow-empty", "-m", "the owner was quicker")
        return real_update(repository, ref, new, old, reason=reason)

    monkeypatch.setattr(git_cleanroom, "update_ref", owner_commits_first)
    moved_before = workspace.rev("main")
    response = merge(api_client, execution, {"strategy": "merge"})
    assert response.status_code == 409 and "moved while merging" in response.json()["detail"]
    assert workspace.rev(f"agent/exec-{execution.pk}") == branch_before
    assert plain_git(workspace.path, "log", "-1", "--format=%s", "main") == "the owner was quicker"
    assert workspace.rev("main~1") == moved_before
    assert not (workspace.path / "notes.md").exists()


def test_a_rebase_of_a_branch_with_merge_commits_onto_a_moved_target_is_a_409(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution, folder = started_execution(project)
    (workspace.path / "owner.txt").write_text("owner\n")
    commit_all(workspace.path, "owner")
    (folder / "agent.txt").write_text("agent\n")
    step_done(execution)
    plain_git(folder, "-c", "core.hooksPath=/dev/null", "merge", "-q", "--no-edit", "main")  # the agent merged main in
    (workspace.path / "again.txt").write_text("again\n")
    commit_all(workspace.path, "owner again")
    before = workspace.refs()
    response = merge(api_client, execution, {"strategy": "rebase"})
    assert response.status_code == 409 and "merge commits" in response.json()["detail"]
    assert workspace.refs() == before
    assert merge(api_client, execution, {"strategy": "merge"}).status_code == 200


def test_a_folder_the_work_replaces_by_a_file_is_removed_in_the_workspace(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    (workspace.path / "docs").mkdir()
    (workspace.path / "docs" / "a.md").write_text("a\n")
    commit_all(workspace.path, "docs folder")
    execution, folder = started_execution(project)
    finished(execution)
    (folder / "docs" / "a.md").unlink()
    (folder / "docs").rmdir()
    (folder / "docs").write_text("now a file\n")
    response = merge(api_client, execution, {"strategy": "squash"})
    assert response.status_code == 200, response.content
    assert (workspace.path / "docs").read_text() == "now a file\n"
    assert plain_git(workspace.path, "status", "--porcelain") == ""
