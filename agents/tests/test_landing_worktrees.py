"""Worktrees have a lifecycle: made by default for a template that asks, committed after each step
(unless the template turns it off), measured, removed on request or after the retention."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import AgentTemplate, Execution
from agents.services import executions, worktrees
from agents.tests.landing_support import finished, make_workspace, plain_git, started_execution, step_done
from agents.workdirs import execution_cwd
from orchestra_site.api.exceptions import StateConflict

pytestmark = pytest.mark.django_db


def test_after_each_step_the_work_is_committed_naming_the_step_and_the_worktree_stays_clean(
    project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    (folder / "a.txt").write_text("one\n")
    step_done(execution, "Plan")
    (folder / "a.txt").write_text("two\n")
    execution = step_done(execution, "Build")
    step_done(execution, "Idle")  # nothing changed: no empty commit
    branch = f"agent/exec-{execution.pk}"
    subjects = plain_git(workspace.path, "log", "--format=%s|%an", f"main..{branch}").splitlines()
    assert subjects == [
        f"Build (execution {execution.pk}, claude)|Orchestra Hub",
        f"Plan (execution {execution.pk}, claude)|Orchestra Hub",
    ]
    assert plain_git(folder, "status", "--porcelain") == ""  # the agent's own git sees a clean tree
    assert execution.worktree_bytes and execution.worktree_bytes > 0


def test_a_template_can_turn_the_commit_off_and_ask_for_worktrees_by_default(
    project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    template = AgentTemplate.objects.create(name="T", metadata={"commit_after_step": False, "create_worktree": True})
    execution = executions.execution_create(project_id=project["id"], template_id=template.pk)
    assert execution.worktree_branch == f"agent/exec-{execution.pk}"
    from agents.runner.worker import execution_cwd

    folder = execution_cwd(execution)
    (folder / "a.txt").write_text("one\n")
    step_done(execution)
    assert workspace.rev(f"agent/exec-{execution.pk}") == workspace.rev("main")


def test_delete_worktree_commits_what_is_left_keeps_the_branch_and_says_so(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    finished(execution)
    (folder / "left.txt").write_text("left\n")
    response = api_client.delete(f"/projects/{project['id']}/executions/{execution.pk}/worktree")
    assert response.status_code == 200, response.content
    assert response.json()["worktree_removed_at"] is not None and response.json()["worktree_bytes"] == 0
    assert not folder.exists()
    branch = f"agent/exec-{execution.pk}"
    assert "left.txt" in plain_git(workspace.path, "ls-tree", "--name-only", branch)
    assert str(folder) not in plain_git(workspace.path, "worktree", "list")
    again = api_client.delete(f"/projects/{project['id']}/executions/{execution.pk}/worktree")
    assert again.status_code == 409
    # Still reviewable from its branch.
    diff = api_client.get(f"/projects/{project['id']}/executions/{execution.pk}/diff").json()
    assert [item["path"] for item in diff["files"]] == ["left.txt"]


def test_merged_worktrees_go_after_the_retention_and_unmerged_ones_stay(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    merged, merged_folder = started_execution(project)
    finished(merged)
    (merged_folder / "m.txt").write_text("m\n")
    assert (
        api_client.post(
            f"/projects/{project['id']}/executions/{merged.pk}/merge", {"strategy": "squash"}, format="json"
        ).status_code
        == 200
    )
    _kept, kept_folder = started_execution(project)
    (kept_folder / "k.txt").write_text("k\n")
    assert worktrees.worktrees_prune(older_than=timedelta(hours=1)) == []  # merged just now
    Execution.objects.filter(pk=merged.pk).update(merged_at=timezone.now() - timedelta(hours=2))
    assert worktrees.worktrees_prune(older_than=timedelta(hours=1)) == [merged.pk]
    assert not merged_folder.exists() and kept_folder.exists()
    assert workspace.rev(f"agent/exec-{merged.pk}")  # the branch stays


def test_the_merge_discards_the_other_attempts(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    finished(execution)
    (folder / "x.txt").write_text("x\n")
    called: list[int] = []
    monkeypatch.setattr(
        "agents.services.attempts.discard_other_attempts", lambda *, execution: called.append(execution.pk)
    )
    api_client.post(f"/projects/{project['id']}/executions/{execution.pk}/merge", {"strategy": "merge"}, format="json")
    assert called == [execution.pk]


def test_a_removed_worktree_is_not_made_again_for_a_later_step(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    finished(execution)
    response = api_client.delete(f"/projects/{project['id']}/executions/{execution.pk}/worktree")
    assert response.status_code == 200, response.content
    execution.refresh_from_db()
    with pytest.raises(StateConflict, match="was removed"):
        execution_cwd(execution)
    assert not folder.exists()
