"""Best of N, landed: merging one attempt of a group through the API discards the others and
removes their worktrees, and keeps every branch (real repositories, both databases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution
from agents.tests.landing_support import plain_git, three_attempts

pytestmark = pytest.mark.django_db(transaction=True)


def test_landing_one_of_three_attempts_discards_the_others_and_keeps_their_branches(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    attempts = three_attempts(api_client, project, tmp_path)
    workspace = Path(project["workspace_path"])
    folders = {e.pk: Path(e.worktree_path or "") for e in attempts}
    chosen, others = attempts[1], [attempts[0], attempts[2]]

    response = api_client.post(
        f"/projects/{project['id']}/executions/{chosen.pk}/merge", {"strategy": "squash"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert "return 12" in (workspace / "app.py").read_text()
    statuses = dict(Execution.objects.filter(pk__in=[e.pk for e in attempts]).values_list("pk", "status"))
    assert statuses == {chosen.pk: "completed", others[0].pk: "discarded", others[1].pk: "discarded"}
    assert folders[chosen.pk].is_dir() and not any(folders[e.pk].exists() for e in others)
    branches = plain_git(workspace, "branch", "--format=%(refname:short)").split()
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
