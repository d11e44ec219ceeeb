"""End to end through the hub's runner: an agent edits files in its worktree step by step, the hub
commits each step, and the work is reviewed and merged over the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution
from agents.tests.landing_support import make_workspace, plain_git
from tests.support.agent_runs import RunnerThread, execution_finished, make_template, wait_for


@pytest.mark.django_db(transaction=True)
def test_each_step_is_a_commit_and_the_work_lands_on_main(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any], tmp_path: Path
) -> None:
    workspace = make_workspace(project, tmp_path)
    template = make_template(
        api_client,
        [("Write the feature", "custom", "write feature.py print(1)"), ("Add docs", "custom", "write DOCS.md how")],
        [(0, 1)],
        create_worktree=True,  # the template asks: the launch need not
    )
    launched = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch", {"template_id": template["id"]}, format="json"
    ).json()
    with RunnerThread():
        wait_for(execution_finished(launched["id"]))
    execution = Execution.objects.get(pk=launched["id"])
    assert execution.status == "completed", execution.error
    assert (execution.base_ref, execution.base_commit) == ("main", workspace.rev("main"))
    branch = f"agent/exec-{execution.pk}"
    subjects = plain_git(workspace.path, "log", "--format=%s", f"main..{branch}").splitlines()
    assert subjects == [
        f"Add docs (execution {execution.pk}, custom)",
        f"Write the feature (execution {execution.pk}, custom)",
    ]
    assert execution.worktree_bytes and execution.worktree_bytes > 0
    base = f"/projects/{project['id']}/executions/{execution.pk}"
    diff = api_client.get(f"{base}/diff").json()
    assert [item["path"] for item in diff["files"]] == ["DOCS.md", "feature.py"]
    merged = api_client.post(f"{base}/merge", {"strategy": "squash"}, format="json")
    assert merged.status_code == 200, merged.content
    assert (workspace.path / "feature.py").read_text() == "print(1)\n"
    assert plain_git(workspace.path, "status", "--porcelain") == ""
