"""Best of N, landed: merging one attempt of a group through the API discards the others and
removes their worktrees, and keeps every branch (real repositories, both databases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, ExecutionStatus
from agents.runner.worker import execution_cwd
from agents.tests.landing_support import make_workspace, plain_git, step_done

pytestmark = pytest.mark.django_db(transaction=True)


def test_landing_one_of_three_attempts_discards_the_others_and_keeps_their_branches(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    node = api_client.post(f"/projects/{project['id']}/nodes", {"title": "Fix"}, format="json").json()
    steps = [{"name": "Try", "agent_type": "claude", "prompt_template": "x"}]
    template = api_client.post("/agent-templates", {"name": "Best", "steps": steps}, format="json").json()
    launched = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch",
        {"template_id": template["id"], "attempts": 3},
        format="json",
    )
    assert launched.status_code == 201, launched.content
    attempts = list(Execution.objects.filter(attempt_group=launched.json()["id"]).order_by("attempt"))
    folders = {}
    for execution in attempts:  # each attempt's agent writes its own version, as the runner would run it
        folder = execution_cwd(execution)
        (folder / "app.py").write_text(f"def main():\n    return {execution.attempt + 10}\n")
        step_done(execution, name="Try")
        folders[execution.pk] = folder
    Execution.objects.filter(pk__in=[e.pk for e in attempts]).update(status=ExecutionStatus.COMPLETED)
    chosen, others = attempts[1], [attempts[0], attempts[2]]

    response = api_client.post(
        f"/projects/{project['id']}/executions/{chosen.pk}/merge", {"strategy": "squash"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert "return 12" in (workspace.path / "app.py").read_text()
    statuses = dict(Execution.objects.filter(pk__in=[e.pk for e in attempts]).values_list("pk", "status"))
    assert statuses == {chosen.pk: "completed", others[0].pk: "discarded", others[1].pk: "discarded"}
    assert folders[chosen.pk].is_dir() and not any(folders[e.pk].exists() for e in others)
    branches = plain_git(workspace.path, "branch", "--format=%(refname:short)").split()
    assert all(f"agent/exec-{e.pk}" in branches for e in attempts)  # the hub never deletes a branch
    refused = api_client.post(
        f"/projects/{project['id']}/executions/{others[0].pk}/merge", {"strategy": "merge"}, format="json"
    )
    assert refused.status_code == 409 and "detail" in refused.json()


def test_a_project_can_give_every_execution_its_own_worktree(api_client: APIClient, tmp_path: Path) -> None:
    project = api_client.post("/projects", {"name": "Branches", "worktree_by_default": True}, format="json").json()
    assert project["worktree_by_default"] is True
    node = api_client.post(f"/projects/{project['id']}/nodes", {"title": "Fix"}, format="json").json()
    steps = [{"name": "Try", "agent_type": "claude", "prompt_template": "x"}]
    template = api_client.post("/agent-templates", {"name": "One", "steps": steps}, format="json").json()
    launched = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch", {"template_id": template["id"]}, format="json"
    ).json()  # the launch does not ask for a worktree: the project's setting gives it one
    assert launched["worktree_branch"] == f"agent/exec-{launched['id']}" and launched["worktree_path"]
    off = api_client.patch(f"/projects/{project['id']}", {"worktree_by_default": False}, format="json")
    assert off.status_code == 200 and off.json()["worktree_by_default"] is False
    plain = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch", {"template_id": template["id"]}, format="json"
    ).json()
    assert plain["worktree_branch"] is None
    bad = api_client.patch(f"/projects/{project['id']}", {"worktree_by_default": "yes"}, format="json")
    assert bad.status_code == 400 and "worktree_by_default" in bad.json()["detail"]
