"""The review and landing endpoints answer what their OpenAPI schema says, errors included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.tests.landing_support import commit_all, make_workspace, started_execution, step_done
from tests.support.openapi_check import SchemaChecker, hub_openapi

pytestmark = pytest.mark.django_db


def test_every_landing_endpoint_matches_its_schema(
    api_client: APIClient, project: dict[str, Any], tmp_path: Path
) -> None:
    checker = SchemaChecker(hub_openapi(), api_client)
    call = checker.call
    pid = project["id"]
    outside, _ = started_execution(project, worktree=False)  # before the workspace is a repository
    call("get", "/projects/{pid}/executions/{eid}/diff", 409, pid=pid, eid=outside.pk)
    workspace = make_workspace(project, tmp_path)
    execution, folder = started_execution(project)
    (folder / "a.txt").write_text("a\n")
    step_done(execution)
    eid = execution.pk
    call("get", "/projects/{pid}/executions/{eid}/diff", 200, pid=pid, eid=eid)
    call("get", "/projects/{pid}/executions/{eid}/diff", 200, {"path": "a.txt"}, pid=pid, eid=eid)
    call("get", "/projects/{pid}/executions/{eid}/diff", 400, {"path": "../x"}, pid=pid, eid=eid)
    call("post", "/projects/{pid}/executions/{eid}/push", 200, {"remote": "origin"}, pid=pid, eid=eid)
    call("post", "/projects/{pid}/executions/{eid}/push", 400, {"remote": "-o"}, pid=pid, eid=eid)
    call("post", "/projects/{pid}/executions/{eid}/pull-request", 409, {"title": "t"}, pid=pid, eid=eid)
    (workspace.path / "a.txt").write_text("owner\n")
    commit_all(workspace.path, "owner")
    conflict = call("post", "/projects/{pid}/executions/{eid}/merge", 409, {"strategy": "merge"}, pid=pid, eid=eid)
    assert conflict["conflicts"] == ["a.txt"]
    call("post", "/projects/{pid}/executions/{eid}/merge", 400, {"strategy": "x"}, pid=pid, eid=eid)
    (folder / "a.txt").write_text("owner\n")
    call("post", "/projects/{pid}/executions/{eid}/merge", 200, {"strategy": "merge"}, pid=pid, eid=eid)
    call("delete", "/projects/{pid}/executions/{eid}/worktree", 200, pid=pid, eid=eid)
    call("delete", "/projects/{pid}/executions/{eid}/worktree", 409, pid=pid, eid=eid)
    landing = ("/diff", "/merge", "/push", "/pull-request", "/worktree")
    assert checker.seen == checker.documented(lambda path: path.endswith(landing))
