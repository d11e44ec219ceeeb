"""Which executions may land: never a discarded attempt, never a second attempt of a group once
one was merged or proposed, never one whose agent has a follow-up queued (pending); and landing
never discards an attempt that was already merged."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Execution, ExecutionStatus
from agents.services import attempts as attempt_services
from agents.services import worktrees
from agents.tests.landing_support import make_workspace, plain_git, started_execution, step_done, three_attempts

pytestmark = pytest.mark.django_db


def post(client: APIClient, execution: Execution, action: str, body: dict[str, Any] | None = None) -> Any:
    url = f"/projects/{execution.project_id}/executions/{execution.pk}/{action}"
    return client.post(url, body or {"strategy": "merge"}, format="json")


def test_a_discarded_attempt_is_neither_merged_nor_pushed(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    first, second, _ = three_attempts(api_client, project, tmp_path)
    assert post(api_client, first, "merge").status_code == 200
    for action in ("merge", "push"):
        response = post(api_client, second, action)
        assert response.status_code == 409, response.content
        assert "was discarded" in response.json()["detail"]
    assert Execution.objects.get(pk=second.pk).merged_at is None


def test_a_second_attempt_is_refused_once_one_was_merged_and_the_merged_one_is_never_discarded(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    first, second, third = three_attempts(api_client, project, tmp_path)
    assert post(api_client, first, "merge").status_code == 200
    # The second attempt is back to completed (as a race with the discard would leave it).
    Execution.objects.filter(pk=second.pk).update(status=ExecutionStatus.COMPLETED)
    response = post(api_client, Execution.objects.get(pk=second.pk), "merge")
    assert response.status_code == 409, response.content
    assert f"execution {first.pk}, was already merged" in response.json()["detail"]
    attempt_services.discard_other_attempts(execution=Execution.objects.get(pk=second.pk))
    merged = Execution.objects.get(pk=first.pk)
    assert merged.status == ExecutionStatus.COMPLETED and merged.merged_at is not None
    assert Execution.objects.get(pk=third.pk).status == ExecutionStatus.DISCARDED


def test_a_second_attempt_is_refused_once_one_has_a_pull_request(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    first, second, _ = three_attempts(api_client, project, tmp_path)
    Execution.objects.filter(pk=first.pk).update(pull_request_url="https://github.com/o/r/pull/1")
    response = post(api_client, second, "merge")
    assert response.status_code == 409, response.content
    assert "https://github.com/o/r/pull/1" in response.json()["detail"]
    assert Execution.objects.get(pk=second.pk).merged_at is None


def test_a_pending_execution_is_not_merged_pushed_or_its_worktree_removed(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    (folder / "feature.py").write_text("print('feature')\n")
    step_done(execution)
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.PENDING)
    before = workspace.refs()
    for action in ("merge", "push"):
        response = post(api_client, execution, action)
        assert response.status_code == 409, response.content
        assert "is pending" in response.json()["detail"]
    removed = api_client.delete(f"/projects/{execution.project_id}/executions/{execution.pk}/worktree")
    assert removed.status_code == 409 and "is pending" in removed.json()["detail"]
    assert folder.is_dir() and workspace.refs() == before


@pytest.mark.parametrize("status", [ExecutionStatus.PENDING, ExecutionStatus.RUNNING])
def test_the_retention_prune_skips_pending_and_running_executions(
    project: dict[str, Any], tmp_path: Path, status: str
) -> None:
    make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    step_done(execution)
    long_ago = timezone.now() - timedelta(days=30)
    Execution.objects.filter(pk=execution.pk).update(status=status, merged_at=long_ago, updated_at=long_ago)
    assert worktrees.worktrees_prune(older_than=timedelta(0)) == []
    assert folder.is_dir()
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.COMPLETED)
    assert worktrees.worktrees_prune(older_than=timedelta(0)) == [execution.pk]


def test_an_attempt_merged_while_another_waited_for_the_repository_is_a_409_and_nothing_moves(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, _ = three_attempts(api_client, project, tmp_path)
    workspace_refs = make_workspace_refs(project)
    before = workspace_refs()
    lock = worktrees.repository_lock

    @contextlib.contextmanager
    def sibling_lands_first(repository: Any) -> Iterator[None]:
        with lock(repository):
            Execution.objects.filter(pk=first.pk).update(merged_at=timezone.now(), merged_commit="0" * 40)
            yield

    monkeypatch.setattr(worktrees, "repository_lock", sibling_lands_first)
    response = post(api_client, second, "merge")
    assert response.status_code == 409, response.content
    assert f"execution {first.pk}, was already merged" in response.json()["detail"]
    assert workspace_refs() == before
    assert Execution.objects.get(pk=second.pk).merged_at is None
    assert Execution.objects.get(pk=second.pk).status == ExecutionStatus.COMPLETED


def make_workspace_refs(project: dict[str, Any]) -> Any:
    folder = Path(project["workspace_path"])
    return lambda: plain_git(folder, "for-each-ref", "--format=%(refname) %(objectname)")
