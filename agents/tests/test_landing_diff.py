"""GET .../executions/{eid}/diff: what an execution changed, uncommitted work included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.tests.landing_support import make_workspace, plain_git, started_execution, step_done

pytestmark = pytest.mark.django_db


def diff_url(project: dict[str, Any], execution_id: int) -> str:
    return f"/projects/{project['id']}/executions/{execution_id}/diff"


def test_the_diff_shows_committed_and_uncommitted_work_against_the_start(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    assert (execution.base_ref, execution.base_commit) == ("main", workspace.rev("main"))
    (folder / "app.py").write_text("def main():\n    return 2\n\n\ndef helper():\n    return 3\n")
    step_done(execution)
    (folder / "new.txt").write_text("fresh\n")  # uncommitted, after the step
    (folder / "README.md").unlink()
    (folder / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    response = api_client.get(diff_url(project, execution.pk))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["base"] == {"ref": "main", "commit": workspace.rev("main")}
    assert body["head"]["branch"] == f"agent/exec-{execution.pk}"
    assert body["head"]["commit"] == workspace.rev(f"agent/exec-{execution.pk}")
    files = {item["path"]: item for item in body["files"]}
    assert files["app.py"] == {
        "path": "app.py", "old_path": None, "status": "modified", "binary": False, "additions": 5, "deletions": 1,
    }  # fmt: skip
    assert files["new.txt"]["status"] == "added" and files["new.txt"]["additions"] == 1
    assert files["README.md"]["status"] == "deleted" and files["README.md"]["deletions"] == 1
    assert files["blob.bin"]["binary"] is True
    assert body["stats"] == {"files": 4, "additions": 6, "deletions": 2}
    assert "+def helper():" in body["patch"] and "+fresh" in body["patch"]
    assert body["truncated"] is False
    one = api_client.get(diff_url(project, execution.pk), {"path": "new.txt"}).json()
    assert [item["path"] for item in one["files"]] == ["new.txt"]
    assert "app.py" not in one["patch"] and "+fresh" in one["patch"]


def test_a_rename_is_reported_with_its_old_path(api_client: APIClient, project: dict[str, Any], tmp_path: Path) -> None:
    make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    (folder / "app.py").rename(folder / "main.py")
    files = api_client.get(diff_url(project, execution.pk)).json()["files"]
    assert files == [
        {"path": "main.py", "old_path": "app.py", "status": "renamed", "binary": False, "additions": 0, "deletions": 0}
    ]


def test_the_patch_is_capped_and_says_so(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path, settings: Any
) -> None:
    settings.DIFF_MAX_BYTES = 2048
    make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    (folder / "big.txt").write_text("".join(f"line {n}\n" for n in range(2000)))
    body = api_client.get(diff_url(project, execution.pk)).json()
    assert body["truncated"] is True
    assert len(body["patch"].encode()) <= 2048
    assert body["files"][0]["additions"] == 2000  # the counts stay whole


def test_an_execution_in_the_workspace_itself_is_reviewed_against_its_start(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    execution, folder = started_execution(project, worktree=False)
    assert folder == workspace.path
    (folder / "app.py").write_text("changed\n")
    body = api_client.get(diff_url(project, execution.pk)).json()
    assert [item["path"] for item in body["files"]] == ["app.py"]
    assert body["head"] == {"branch": "main", "commit": workspace.rev("main")}


def test_outside_a_git_repository_the_diff_is_a_409_saying_why(api_client: APIClient, project: dict[str, Any]) -> None:
    execution, _ = started_execution(project, worktree=False)
    response = api_client.get(diff_url(project, execution.pk))
    assert response.status_code == 409
    assert "did not run in a git repository" in response.json()["detail"]


@pytest.mark.parametrize("path", ["../etc/passwd", "/etc/passwd", "a/../../b", "./x", ""])
def test_a_path_outside_the_repository_is_a_400_naming_the_field(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path, path: str
) -> None:
    make_workspace(project, tmp_path)
    execution, _ = started_execution(project)
    response = api_client.get(diff_url(project, execution.pk), {"path": path})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("path:")


def test_a_link_the_agent_makes_is_shown_as_a_link_never_followed(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    make_workspace(project, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("the hub's secret\n")
    execution, folder = started_execution(project)
    (folder / "leak").symlink_to(secret)
    (folder / "dir").symlink_to(tmp_path)
    body = api_client.get(diff_url(project, execution.pk)).json()
    assert "the hub's secret" not in body["patch"]
    assert f"+{secret}" in body["patch"]
    plain_git(folder, "status")  # the worktree is still an ordinary one for the agent


def test_many_files_are_read_a_batch_at_a_time(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agents.git_cleanroom.FD_BATCH", 7)  # few descriptors open at once
    make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    for number in range(30):
        (folder / "many").mkdir(exist_ok=True)
        (folder / "many" / f"f{number}.txt").write_text(f"{number}\n")
    (folder / "many" / "link").symlink_to("f1.txt")
    body = api_client.get(diff_url(project, execution.pk)).json()
    assert body["stats"]["files"] == 31
    assert "+f1.txt\n\\ No newline at end of file" in body["patch"]
