"""POST .../push and .../pull-request: the branch goes to the operator's configured remote, a
pull request is opened with the operator's gh; nothing a client sends becomes an option."""

from __future__ import annotations

import json
import shutil
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


def post(client: APIClient, execution: Execution, action: str, body: dict[str, Any]) -> Any:
    return client.post(f"/projects/{execution.project_id}/executions/{execution.pk}/{action}", body, format="json")


def worked(project: dict[str, Any]) -> Execution:
    execution, folder = started_execution(project)
    (folder / "feature.py").write_text("print('feature')\n")
    step_done(execution)
    (folder / "uncommitted.txt").write_text("left over\n")
    return execution


def origin_refs(workspace: Workspace) -> str:
    return subprocess.run(
        ["git", "-C", str(workspace.origin), "for-each-ref", "--format=%(refname) %(objectname)"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def test_a_push_sends_the_branch_with_its_leftovers_to_origin(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution = worked(project)
    response = post(api_client, execution, "push", {})
    assert response.status_code == 200, response.content
    branch = f"agent/exec-{execution.pk}"
    assert response.json() == {"remote": "origin", "branch": branch}
    pushed = subprocess.run(
        ["git", "-C", str(workspace.origin), "rev-parse", f"refs/heads/{branch}"], capture_output=True, text=True
    ).stdout.strip()
    assert pushed == workspace.rev(branch)
    files = plain_git(workspace.path, "ls-tree", "-r", "--name-only", branch).split()
    assert {"feature.py", "uncommitted.txt"} <= set(files)


@pytest.mark.parametrize(
    "remote",
    ["--upload-pack=touch x", "-o", "https://evil.example/x.git", "../origin", "origin;rm -rf /", "/tmp/x", "", 7],
)
def test_a_remote_that_is_not_a_name_is_a_400_and_nothing_moves(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, remote: Any
) -> None:
    execution = worked(project)
    before, origin_before = workspace.refs(), origin_refs(workspace)
    response = post(api_client, execution, "push", {"remote": remote})
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("remote:")
    assert workspace.refs() == before and origin_refs(workspace) == origin_before


def test_a_remote_name_not_configured_is_a_400(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace
) -> None:
    execution = worked(project)
    response = post(api_client, execution, "push", {"remote": "upstream"})
    assert response.status_code == 400
    assert "no remote named 'upstream'" in response.json()["detail"]


def test_a_remote_url_with_a_helper_or_an_option_is_refused(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, tmp_path: Path
) -> None:
    execution = worked(project)
    marker = tmp_path / "MARKER"
    for url in (f"ext::sh -c touch% {marker}", "--upload-pack=touch", "fd::3"):
        plain_git(workspace.path, "config", "remote.origin.url", url)
        response = post(api_client, execution, "push", {})
        assert response.status_code == 409, (url, response.content)
        assert "not one the hub pushes to" in response.json()["detail"]
    assert not marker.exists()


def test_without_a_worktree_push_is_a_409(api_client: APIClient, project: dict[str, Any], workspace: Workspace) -> None:
    execution, _ = started_execution(project, worktree=False)
    response = post(api_client, execution, "push", {})
    assert response.status_code == 409 and "no branch to push" in response.json()["detail"]


# --- Pull requests through a stand-in gh ---------------------------------------------------------


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in ``gh`` on PATH: records each call's arguments (and the body file's text);
    ``auth status`` fails while ``signed-out`` exists beside it."""
    folder = tmp_path / "bin"
    folder.mkdir()
    calls = folder / "calls.jsonl"
    script = folder / "gh"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"folder = {str(folder)!r}\n"
        "args = sys.argv[1:]\n"
        "body = next((open(a.split('=', 1)[1]).read() for a in args if a.startswith('--body-file=')), None)\n"
        "open(os.path.join(folder, 'calls.jsonl'), 'a').write(json.dumps({'args': args, 'body': body}) + '\\n')\n"
        "if args[:2] == ['auth', 'status']:\n"
        "    sys.exit(1 if os.path.exists(os.path.join(folder, 'signed-out')) else 0)\n"
        "if args[:2] == ['pr', 'create']:\n"
        "    print('https://github.com/acme/app/pull/7')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{__import__('os').environ['PATH']}")
    return calls


def github_origin(workspace: Workspace) -> None:
    """``origin`` on GitHub for gh; pushes go to the local bare repository (GitHub is unreachable)."""
    plain_git(workspace.path, "remote", "set-url", "origin", "https://github.com/acme/app.git")
    plain_git(workspace.path, "config", "remote.origin.pushurl", str(workspace.origin))


def calls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_pull_request_is_opened_with_gh_and_title_and_body_stay_values(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, gh: Path
) -> None:
    github_origin(workspace)
    execution = worked(project)
    title, body = "--repo=evil/evil", "-d\n--web"
    response = post(api_client, execution, "pull-request", {"title": title, "body": body})
    assert response.status_code == 201, response.content
    assert response.json() == {"url": "https://github.com/acme/app/pull/7"}
    create = calls(gh)[-1]
    branch = f"agent/exec-{execution.pk}"
    assert create["args"] == [
        "pr", "create", "--repo=acme/app", f"--head={branch}", "--base=main", f"--title={title}",
        create["args"][-1],
    ]  # fmt: skip
    assert create["args"][-1].startswith("--body-file=") and create["body"] == body
    assert f"refs/heads/{branch}" in origin_refs(workspace)
    execution.refresh_from_db()
    assert execution.pull_request_url == "https://github.com/acme/app/pull/7"


def test_a_pull_request_says_what_is_missing(
    api_client: APIClient, project: dict[str, Any], workspace: Workspace, gh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    execution = worked(project)
    response = post(api_client, execution, "pull-request", {})
    assert response.status_code == 409 and "not on GitHub" in response.json()["detail"]
    github_origin(workspace)
    (gh.parent / "signed-out").touch()
    response = post(api_client, execution, "pull-request", {})
    assert response.status_code == 409 and "not signed in" in response.json()["detail"]
    no_gh = gh.parent.parent / "no-gh"
    no_gh.mkdir()
    (no_gh / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(no_gh))
    response = post(api_client, execution, "pull-request", {})
    assert response.status_code == 409 and "gh is not installed" in response.json()["detail"]
    assert not [call for call in calls(gh) if call["args"][:2] == ["pr", "create"]]
