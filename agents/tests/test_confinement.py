"""Agents stay inside their roots and their environment carries no code: API, admin and launch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from agents.models import AgentTemplate, Execution, StepRun
from agents.services import executions
from projects.models import Project
from tests.support.agent_runs import (
    RunnerThread,
    execution_finished,
    launch,
    make_template,
    running_step,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw-for-tests"))
    return client


def execution_url(project: dict[str, Any], execution_id: int) -> str:
    return f"/projects/{project['id']}/executions/{execution_id}"


# --- Where an agent runs ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/etc", "relative/../x", "x", "", "/tmp/../etc"])
def test_a_worktree_outside_the_worktrees_folder_is_refused(
    api_client: APIClient, project: dict[str, Any], path: str
) -> None:
    execution = executions.execution_create(project_id=project["id"])
    response = api_client.patch(execution_url(project, execution.pk), {"worktree_path": path}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("worktree_path: ")
    assert Execution.objects.get(pk=execution.pk).worktree_path is None


def test_a_worktree_inside_the_worktrees_folder_is_accepted_resolved(
    api_client: APIClient, project: dict[str, Any], settings: Any
) -> None:
    execution = executions.execution_create(project_id=project["id"])
    wanted = f"{settings.WORKTREES_DIR}/a/../exec-x"
    response = api_client.patch(execution_url(project, execution.pk), {"worktree_path": wanted}, format="json")
    assert response.status_code == 200
    assert response.json()["worktree_path"] == str(Path(settings.WORKTREES_DIR).resolve() / "exec-x")
    refused = api_client.patch(
        execution_url(project, execution.pk), {"worktree_path": str(settings.WORKTREES_DIR)}, format="json"
    )
    assert refused.status_code == 400


def test_a_symlink_out_of_the_worktrees_folder_is_refused(
    api_client: APIClient, project: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    Path(settings.WORKTREES_DIR).mkdir(parents=True)
    (Path(settings.WORKTREES_DIR) / "escape").symlink_to("/etc")
    execution = executions.execution_create(project_id=project["id"])
    link = f"{settings.WORKTREES_DIR}/escape"
    response = api_client.patch(execution_url(project, execution.pk), {"worktree_path": link}, format="json")
    assert response.status_code == 400
    assert "outside ORCHESTRA_WORKTREES_DIR" in response.json()["detail"]


def test_a_project_may_not_hold_the_workspaces_folder_or_other_projects(
    api_client: APIClient, settings: Any, tmp_path: Path
) -> None:
    first = api_client.post(
        "/projects", {"name": "First", "workspace_path": str(tmp_path / "repos" / "a")}, format="json"
    )
    assert first.status_code == 201
    for path in (settings.WORKSPACES_DIR, tmp_path, tmp_path / "repos"):
        response = api_client.post("/projects", {"name": "Greedy", "workspace_path": str(path)}, format="json")
        assert response.status_code == 400, path
        assert response.json()["detail"].startswith("workspace_path: ")
    assert Project.objects.count() == 1
    moved = api_client.patch(
        f"/projects/{first.json()['id']}", {"workspace_path": str(tmp_path / "repos")}, format="json"
    )
    assert moved.status_code == 200  # its own workspace is not "another project's"
    sibling = api_client.post("/projects", {"name": "Same", "workspace_path": str(tmp_path / "repos")}, format="json")
    assert sibling.status_code == 201  # two projects may share one checkout


def test_a_worktree_written_before_the_rules_fails_the_step_and_runs_nothing(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("S", "custom", "0")]))
    Execution.objects.filter(pk=execution["id"]).update(worktree_path="/")
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    step = StepRun.objects.get(execution_id=execution["id"])
    assert (step.status, step.pid) == ("failed", None)
    assert step.error.startswith("worktree_path: / is outside ORCHESTRA_WORKTREES_DIR")


def test_a_workspace_replaced_by_a_link_out_of_the_roots_fails_the_step(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any], tmp_path: Path
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("S", "custom", "0")]))
    workspace = Path(project["workspace_path"])
    workspace.rmdir()
    workspace.symlink_to("/")
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    step = StepRun.objects.get(execution_id=execution["id"])
    assert (step.status, step.pid) == ("failed", None)
    assert "is outside ORCHESTRA_WORKSPACE_ROOTS" in step.error


# --- What a PATCH may record -----------------------------------------------------------------


def test_a_patch_cannot_finish_a_running_agent(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    execution = launch(api_client, project, node, make_template(api_client, [("S", "custom", "3")]))
    url = execution_url(project, execution["id"])
    with RunnerThread():
        step = wait_for(running_step(execution["id"]))
        refused = api_client.patch(url, {"status": "completed"}, format="json")
        assert refused.status_code == 400
        assert refused.json()["detail"].startswith("status: the hub's runner runs this execution")
        step_url = f"{url}/steps/{step.pk}"
        assert api_client.patch(step_url, {"status": "completed"}, format="json").status_code == 400
        wait_for(execution_finished(execution["id"]), timeout=30)
    step.refresh_from_db()
    assert step.status == "completed"
    assert step.output.startswith("working on: 3")
    assert Execution.objects.get(pk=execution["id"]).status == "completed"
    finished = api_client.patch(url, {"status": "failed"}, format="json")
    assert (finished.status_code, finished.json()["detail"]) == (
        400,
        "status: the execution already finished; it keeps its status.",
    )


# --- The environment carries no code --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NODE_OPTIONS", "--import=data:text/javascript,console.log(1)"),
        ("PATH", "/somewhere"),
        ("LD_PRELOAD", "/tmp/evil.so"),
        ("DYLD_INSERT_LIBRARIES", "/tmp/evil.dylib"),
        ("PYTHONSTARTUP", "/tmp/evil.py"),
        ("PERL5OPT", "-Mevil"),
        ("RUBYOPT", "-revil"),
        ("BASH_ENV", "/tmp/evil.sh"),
        ("ENV", "/tmp/evil.sh"),
        ("HOME", "/tmp/fake-home"),
        ("CODEX_HOME", "/tmp/codex"),
        ("CLAUDE_CONFIG_DIR", "/tmp/claude"),
        ("XDG_CONFIG_HOME", "/tmp/config"),
        ("GIT_SSH_COMMAND", "evil"),
        ("node_options", "--require=/tmp/x.js"),
    ],
)
def test_a_template_env_that_loads_code_is_refused(api_client: APIClient, name: str, value: str) -> None:
    body = {"name": "t", "metadata": {"env": {name: value}}}
    response = api_client.post("/agent-templates", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"metadata.env.{name}: ")
    assert not AgentTemplate.objects.filter(name="t").exists()


@pytest.mark.parametrize(
    ("env", "field"),
    [({"A B": "x"}, "A B"), ({"C": 5}, "C"), ({"1X": "y"}, "1X"), ({"OK": "fine", "N": None}, "N")],
)
def test_env_names_are_identifiers_and_values_strings(api_client: APIClient, env: dict[str, Any], field: str) -> None:
    template = make_template(api_client, [("S", "custom", "0")])
    response = api_client.patch(f"/agent-templates/{template['id']}", {"metadata": {"env": env}}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"metadata.env.{field}: ")
    assert AgentTemplate.objects.get(pk=template["id"]).metadata == {}


def test_step_metadata_is_checked_like_the_templates(api_client: APIClient) -> None:
    body = {
        "name": "t",
        "steps": [{"name": "s", "agent_type": "custom", "prompt_template": "p", "metadata": {"env": {"PATH": "/x"}}}],
    }
    response = api_client.post("/agent-templates", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("steps[0].metadata.env.PATH: ")


def test_an_ordinary_variable_reaches_the_agent_and_an_old_row_is_filtered_at_launch(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("A", "custom", "env FEATURE"), ("B", "custom", "env NODE_OPTIONS")])
    # Written before the rule existed (or straight into the database): launch drops it again.
    AgentTemplate.objects.filter(pk=template["id"]).update(
        metadata={"env": {"FEATURE": "on", "NODE_OPTIONS": "--require=/tmp/evil.js"}}
    )
    execution = launch(api_client, project, node, template)
    with RunnerThread():
        wait_for(execution_finished(execution["id"]))
    outputs = dict(StepRun.objects.filter(execution_id=execution["id"]).values_list("name", "output"))
    assert outputs == {"A": "FEATURE=on", "B": "NODE_OPTIONS=<unset>"}


# --- The admin says no on the field ------------------------------------------------------------


def test_the_admin_refuses_a_code_loading_env_on_the_field(operator: Client) -> None:
    response = operator.post(
        "/admin/agents/agenttemplate/add/",
        {
            "name": "evil",
            "description": "",
            "metadata": '{"env": {"LD_PRELOAD": "/tmp/x.so"}}',
            "steps-TOTAL_FORMS": "0",
            "steps-INITIAL_FORMS": "0",
            "edges-TOTAL_FORMS": "0",
            "edges-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "env.LD_PRELOAD: may not be set by a template" in response.content.decode()
    assert not AgentTemplate.objects.filter(name="evil").exists()


@pytest.mark.parametrize("path", ["/etc", "/tmp/../etc", "relative"])
def test_the_admin_refuses_a_project_workspace_outside_the_roots_on_the_field(operator: Client, path: str) -> None:
    response = operator.post("/admin/projects/project/add/", {"name": "p", "description": "", "workspace_path": path})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not Project.objects.exists()
