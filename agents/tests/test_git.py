"""The hub's git never runs a program a repository names: real repositories shaped as an agent would."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents import git
from agents.models import Execution, StepRun
from agents.services import executions
from orchestra_site.api.exceptions import InvalidInput
from tests.support.agent_runs import RunnerThread, execution_finished, make_template, wait_for


def plain_git(repo: Path, *args: str) -> None:
    """Git as the test's owner runs it, to shape the repository."""
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """The file every planted program writes: it must never appear."""
    return tmp_path / "MARKER"


@pytest.fixture
def program(tmp_path: Path, marker: Path) -> Path:
    """A planted program (a hook, an fsmonitor, a filter) that leaves the marker."""
    script = tmp_path / "planted" / "evil.sh"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\ntouch {marker}\ncat\n")
    script.chmod(0o755)
    return script


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An ordinary workspace repository with one commit and a .txt file."""
    repo = tmp_path / "workspace"
    repo.mkdir()
    plain_git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("hello\n")
    plain_git(repo, "add", "a.txt")
    plain_git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "start")
    return repo


def worktree_of(repo: Path, tmp_path: Path, branch: str = "agent/exec-1") -> Path:
    path = tmp_path / "worktrees" / "exec-1"
    git.create_worktree(repository=repo, path=path, branch=branch)
    return path


# --- Programs git would run are never run; the worktree is made ------------------------------


def plant_post_checkout_hook(repo: Path, program: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-checkout"
    hook.write_text(program.read_text())
    hook.chmod(0o755)


def plant_fsmonitor(repo: Path, program: Path) -> None:
    plain_git(repo, "config", "core.fsmonitor", str(program))


def plant_hooks_path(repo: Path, program: Path) -> None:
    hooks = program.parent / "hooks"
    hooks.mkdir()
    for name in ("post-checkout", "reference-transaction", "post-index-change"):
        (hooks / name).write_text(program.read_text())
        (hooks / name).chmod(0o755)
    plain_git(repo, "config", "core.hooksPath", str(hooks))


def plant_worktree_config_fsmonitor(repo: Path, program: Path) -> None:
    plain_git(repo, "config", "extensions.worktreeConfig", "true")
    plain_git(repo, "config", "--worktree", "core.fsmonitor", str(program))


@pytest.mark.parametrize(
    "plant",
    [plant_post_checkout_hook, plant_fsmonitor, plant_hooks_path, plant_worktree_config_fsmonitor],
    ids=["post-checkout hook", "core.fsmonitor", "core.hooksPath", "fsmonitor in config.worktree"],
)
def test_a_planted_program_never_runs_and_the_worktree_is_made(
    repo: Path, program: Path, marker: Path, tmp_path: Path, plant: Callable[[Path, Path], None]
) -> None:
    plant(repo, program)
    path = worktree_of(repo, tmp_path)
    assert (path / "a.txt").read_text() == "hello\n"
    assert (path / ".git").is_file()
    assert not marker.exists()
    branches = git.run_git(git.repository_open(repo), "branch", "--list", "--format=%(refname:short)").stdout
    assert branches.split() == ["agent/exec-1", "main"]
    assert not marker.exists()


def test_an_existing_branch_is_checked_out_without_running_hooks(
    repo: Path, program: Path, marker: Path, tmp_path: Path
) -> None:
    plain_git(repo, "branch", "agent/exec-1")
    plant_post_checkout_hook(repo, program)
    path = worktree_of(repo, tmp_path)
    assert (path / "a.txt").exists() and not marker.exists()


def test_the_hubs_own_git_environment_and_home_config_are_ignored(
    repo: Path, program: Path, marker: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plant_hooks_path(repo, program)
    plain_git(repo, "config", "--unset", "core.hooksPath")
    hooks = program.parent / "hooks"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f"[core]\n\thooksPath = {hooks}\n\tfsmonitor = {program}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.fsmonitor")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(program))
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", str(program))
    worktree_of(repo, tmp_path)
    repository = git.repository_open(repo)
    (repo / "a.txt").write_text("changed\n")
    git.run_git(repository, "diff", "--no-ext-diff", "--no-textconv")
    git.run_git(repository, "status", "--porcelain")
    assert not marker.exists()
    assert set(git.git_environment()) >= {"GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "GIT_TERMINAL_PROMPT"}
    assert not {"GIT_ASKPASS", "SSH_ASKPASS", "GIT_CONFIG_COUNT", "GIT_EXTERNAL_DIFF"} & set(git.git_environment())


# --- Repositories whose configuration names a program are refused ----------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("filter.evil.smudge", "{program}"),
        ("filter.evil.process", "{program}"),
        ("filter.Evil.clean", "{program}"),
        ("diff.evil.textconv", "{program}"),
        ("diff.evil.command", "{program}"),
        ("diff.external", "{program}"),
        ("merge.evil.driver", "{program}"),
        ("core.sshCommand", "{program}"),
        ("gpg.program", "{program}"),
        ("remote.origin.uploadpack", "{program}"),
        ("include.path", "{planted_config}"),
        ("includeIf.onbranch:agent/**.path", "{planted_config}"),
        ("core.bare", "true"),
    ],
)
def test_a_repository_whose_config_names_a_program_is_refused(
    repo: Path, program: Path, marker: Path, tmp_path: Path, key: str, value: str
) -> None:
    planted_config = program.parent / "planted.cfg"
    planted_config.write_text(f'[filter "evil"]\n\tsmudge = {program}\n[core]\n\tfsmonitor = {program}\n')
    (repo / ".gitattributes").write_text("*.txt filter=evil diff=evil merge=evil\n")
    plain_git(repo, "config", key, value.format(program=program, planted_config=planted_config))
    with pytest.raises(InvalidInput) as refused:
        worktree_of(repo, tmp_path)
    assert refused.value.detail.startswith(f"create_worktree: {repo}: its git configuration sets ")
    assert key.lower().split(".")[0] in refused.value.detail.lower()
    assert "--unset-all" in refused.value.detail
    assert not (tmp_path / "worktrees" / "exec-1").exists()
    assert not marker.exists()


def test_a_filter_declared_nowhere_but_gitattributes_runs_nothing(
    repo: Path, program: Path, marker: Path, tmp_path: Path
) -> None:
    (repo / ".gitattributes").write_text("*.txt filter=lfs diff=evil\n")
    plain_git(repo, "add", ".gitattributes")
    plain_git(repo, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "attrs")
    path = worktree_of(repo, tmp_path)
    assert (path / "a.txt").read_text() == "hello\n" and not marker.exists()


# --- Repositories that are elsewhere or bare are refused ---------------------------------------


def test_a_git_file_pointing_elsewhere_is_refused(repo: Path, program: Path, marker: Path, tmp_path: Path) -> None:
    plant_post_checkout_hook(repo, program)
    workspace = tmp_path / "other-workspace"
    workspace.mkdir()
    (workspace / ".git").write_text(f"gitdir: {repo / '.git'}\n")
    with pytest.raises(InvalidInput, match=r"\.git is a link or a file pointing to another repository"):
        worktree_of(workspace, tmp_path)
    assert not marker.exists()


def test_a_git_link_pointing_elsewhere_is_refused(repo: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "other-workspace"
    workspace.mkdir()
    (workspace / ".git").symlink_to(repo / ".git")
    with pytest.raises(InvalidInput, match=r"\.git is a link or a file"):
        worktree_of(workspace, tmp_path)


def test_a_commondir_file_pointing_elsewhere_is_refused(repo: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "other-workspace"
    workspace.mkdir()
    plain_git(workspace, "init", "-q")
    (workspace / ".git" / "commondir").write_text(str(repo / ".git"))
    with pytest.raises(InvalidInput, match="commondir"):
        worktree_of(workspace, tmp_path)


def test_a_bare_repository_is_refused(repo: Path, program: Path, marker: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    (bare / "hooks" / "post-checkout").write_text(program.read_text())
    (bare / "hooks" / "post-checkout").chmod(0o755)
    with pytest.raises(InvalidInput, match=r"not a git repository \(no \.git folder; bare repositories are refused\)"):
        worktree_of(bare, tmp_path)
    assert not marker.exists()


def test_a_folder_inside_another_repository_is_not_that_repository(repo: Path, tmp_path: Path) -> None:
    inner = repo / "sub"
    inner.mkdir()
    with pytest.raises(InvalidInput, match="is not a git repository"):
        worktree_of(inner, tmp_path)


def test_a_planted_fifo_config_does_not_hang_the_runner(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(git, "CHECK_TIMEOUT_SECONDS", 0.5)
    config = repo / ".git" / "config"
    config.unlink()
    os.mkfifo(config)
    with pytest.raises(InvalidInput, match=r"\.git/config is not a plain file \(a link, a pipe or a folder\)"):
        worktree_of(repo, tmp_path)


# --- Branch names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "branch",
    ["-b", "--upload-pack=touch /tmp/x", "a..b", "a b", "refs/heads/x.lock", "x~1", "@{-1}", "", "a:b", "HEAD^"],
)
def test_a_bad_branch_name_is_refused_before_git_sees_it(repo: Path, tmp_path: Path, branch: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        worktree_of(repo, tmp_path, branch=branch)
    assert refused.value.detail.startswith("create_worktree: worktree_branch: ")
    assert not (tmp_path / "worktrees" / "exec-1").exists()


@pytest.mark.parametrize("branch", ["agent/exec-7", "feature/login-fix", "v1.2"])
def test_an_ordinary_branch_name_is_kept(branch: str) -> None:
    assert git.validate_branch_name(branch) == branch


# --- Through the API and the runner ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("branch", "detail"),
    [
        ("-f", "worktree_branch: a branch name may not start with '-', got '-f'."),
        ("a..b", "worktree_branch: 'a..b' is not a valid git branch name (git check-ref-format --branch)."),
    ],
)
def test_a_patch_with_a_bad_worktree_branch_is_a_400(
    api_client: APIClient, project: dict[str, Any], branch: str, detail: str
) -> None:
    execution = executions.execution_create(project_id=project["id"], create_worktree=True)
    url = f"/projects/{project['id']}/executions/{execution.pk}"
    response = api_client.patch(url, {"worktree_branch": branch}, format="json")
    assert (response.status_code, response.json()["detail"]) == (400, detail)
    execution.refresh_from_db()
    assert execution.worktree_branch == f"agent/exec-{execution.pk}"
    ok = api_client.patch(url, {"worktree_branch": "feature/x"}, format="json")
    assert (ok.status_code, ok.json()["worktree_branch"]) == (200, "feature/x")


@pytest.mark.django_db(transaction=True)
def test_a_launch_never_takes_its_branch_from_the_client(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("S", "custom", "0")])
    body = {"template_id": template["id"], "create_worktree": True, "worktree_branch": "--orphan"}
    for url in (f"/projects/{project['id']}/nodes/{node['id']}/launch", f"/projects/{project['id']}/executions"):
        created = api_client.post(url, body, format="json").json()
        assert created["worktree_branch"] == f"agent/exec-{created['id']}"


def launch_in_a_worktree(api_client: APIClient, project: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    template = make_template(api_client, [("S", "custom", "0")])
    response = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch",
        {"template_id": template["id"], "create_worktree": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_an_agent_shaped_workspace_runs_nothing_when_the_runner_makes_the_worktree(
    api_client: APIClient,
    fake_agent: list[str],
    project: dict[str, Any],
    node: dict[str, Any],
    program: Path,
    marker: Path,
) -> None:
    workspace = Path(project["workspace_path"])
    plain_git(workspace, "init", "-q", "-b", "main")
    plain_git(workspace, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "s")
    plant_post_checkout_hook(workspace, program)
    plant_fsmonitor(workspace, program)
    execution = launch_in_a_worktree(api_client, project, node)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    step = StepRun.objects.get(execution_id=execution["id"])
    assert step.status == "completed", step.error
    assert not marker.exists()


@pytest.mark.django_db(transaction=True)
def test_a_bad_branch_stored_in_the_row_is_refused_again_before_use(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    workspace = Path(project["workspace_path"])
    plain_git(workspace, "init", "-q", "-b", "main")
    plain_git(workspace, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "s")
    execution = launch_in_a_worktree(api_client, project, node)
    Execution.objects.filter(pk=execution["id"]).update(worktree_branch="--orphan")
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    step = StepRun.objects.get(execution_id=execution["id"])
    assert step.status == "failed"
    assert step.error == "create_worktree: worktree_branch: a branch name may not start with '-', got '--orphan'."


@pytest.mark.parametrize("name", ["objects/info/alternates", "packed-refs", "info/attributes", "HEAD"])
def test_a_pipe_or_a_link_in_place_of_a_file_git_reads_is_refused_at_once(tmp_path: Path, name: str) -> None:
    repository = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repository)], check=True)
    planted = repository / ".git" / name
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.unlink(missing_ok=True)
    os.mkfifo(planted)  # git would wait on it until its timeout, every worktree behind it
    started = time.monotonic()
    with pytest.raises(git.GitRefused, match="is not a plain file"):
        git.repository_open(repository)
    assert time.monotonic() - started < 2
