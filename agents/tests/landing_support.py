"""Real repositories for the review and landing tests: a workspace with a local bare ``origin``,
executions made through the services, files written as an agent would."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.models import Execution, ExecutionStatus
from agents.runner.worker import execution_cwd
from agents.services import executions, worktrees

IDENTITY = ["-c", "user.email=owner@example.com", "-c", "user.name=Owner"]


def plain_git(repo: Path, *args: str) -> str:
    """Git as the repository's owner runs it (not the hub's), to shape and inspect repositories."""
    done = subprocess.run(["git", "-C", str(repo), *IDENTITY, *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    plain_git(repo, "add", "-A")
    plain_git(repo, "commit", "-q", "--no-verify", "-m", message)
    return plain_git(repo, "rev-parse", "HEAD")


@dataclass
class Workspace:
    path: Path
    origin: Path

    def rev(self, ref: str) -> str:
        return plain_git(self.path, "rev-parse", ref)

    def refs(self) -> str:
        """Every ref and the work tree's state: compared before and after to show nothing changed."""
        return (
            plain_git(self.path, "for-each-ref", "--format=%(refname) %(objectname)")
            + "\n"
            + plain_git(self.path, "status", "--porcelain", "--untracked-files=all")
        )


def make_workspace(project: dict[str, Any], tmp_path: Path) -> Workspace:
    """The project's workspace as a repository on ``main`` with two files and a bare ``origin``."""
    path = Path(project["workspace_path"])
    path.mkdir(parents=True, exist_ok=True)
    plain_git(path, "init", "-q", "-b", "main")
    (path / "app.py").write_text("def main():\n    return 1\n")
    (path / "README.md").write_text("# App\n")
    commit_all(path, "start")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    plain_git(path, "remote", "add", "origin", str(origin))
    plain_git(path, "push", "-q", "origin", "main")
    return Workspace(path=path, origin=origin)


def started_execution(project: dict[str, Any], *, worktree: bool = True) -> tuple[Execution, Path]:
    """An execution whose first step has started (base recorded, worktree made), and its folder."""
    execution = executions.execution_create(project_id=project["id"], create_worktree=worktree)
    folder = execution_cwd(execution)
    execution.refresh_from_db()
    return execution, folder


def finished(execution: Execution) -> Execution:
    """The execution's run ended (``completed``): what may be landed or have its worktree removed."""
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.COMPLETED)
    execution.refresh_from_db()
    return execution


def step_done(execution: Execution, name: str = "Implement") -> Execution:
    """What the runner does after each step: commit the agent's work on the branch; the
    execution is then ``completed`` (a pending or running one is not landed)."""
    worktrees.worktree_after_step(execution_id=execution.pk, step_name=name, agent_type="claude")
    Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING).update(status=ExecutionStatus.COMPLETED)
    execution.refresh_from_db()
    return execution


def three_attempts(api_client: Any, project: dict[str, Any], tmp_path: Path) -> list[Execution]:
    """A best of 3 launched through the API, each attempt's agent done with its own ``app.py``
    (``return 11``, ``12``, ``13``) committed on its branch, all three completed."""
    make_workspace(project, tmp_path)
    node = api_client.post(f"/projects/{project['id']}/nodes", {"title": "Fix"}, format="json").json()
    steps = [{"name": "Try", "agent_type": "claude", "prompt_template": "x"}]
    template = api_client.post("/agent-templates", {"name": "Best", "steps": steps}, format="json").json()
    launched = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch",
        {"template_id": template["id"], "attempts": 3},
        format="json",
    )
    assert launched.status_code == 201, launched.content
    group = list(Execution.objects.filter(attempt_group=launched.json()["id"]).order_by("attempt"))
    for execution in group:
        (execution_cwd(execution) / "app.py").write_text(f"def main():\n    return {execution.attempt + 10}\n")
        step_done(execution, name="Try")
    Execution.objects.filter(pk__in=[e.pk for e in group]).update(status=ExecutionStatus.COMPLETED)
    return [Execution.objects.get(pk=e.pk) for e in group]
