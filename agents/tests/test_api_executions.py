"""Executions and step runs and their events."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from agents.models import AgentTemplate, Execution, StepRun
from agents.services import executions, templates
from projects import services as project_services
from projects.models import Node, Project
from tests.support.communicators import HubCommunicator

# The review and landing fields (agents.serializers.LANDING_FIELDS) of an execution that never ran.
NO_LANDING = {
    "base_ref": None,
    "base_commit": None,
    "merged_commit": None,
    "merged_at": None,
    "pull_request_url": None,
    "worktree_bytes": None,
    "worktree_removed_at": None,
}


@pytest.fixture
def project(db: None) -> Project:
    return project_services.project_create(name="P")


@pytest.fixture
def node(project: Project) -> Node:
    return project_services.node_create(project_id=project.pk, title="Login bug", description=None, context="ctx")


@pytest.fixture
def template(db: None) -> AgentTemplate:
    """a and b feed c; prompts use node, context and step placeholders."""
    template = templates.template_create(
        name="Review",
        steps=[
            {"name": "a", "agent_type": "claude", "prompt_template": "A {{node.title}} {{code}}", "thinking_budget": 8},
            {"name": "b", "agent_type": "codex", "prompt_template": "B {{node.context}}|{{node.description}}|"},
            {"name": "c", "agent_type": "gemini", "prompt_template": "C {{a}} {{b}}", "output_format": "markdown"},
        ],
        edges=[(0, 2), (1, 2)],
        metadata={"timeout_seconds": 30, "env": {"ORCHESTRA_TASK_MODE": "x"}},
    )
    # A variable the API refuses today, stored before the rule: the snapshot leaves it out.
    AgentTemplate.objects.filter(pk=template.pk).update(
        metadata={"timeout_seconds": 30, "env": {"ORCHESTRA_TASK_MODE": "x", "BAD": 1}}
    )
    template.refresh_from_db()
    return template


def executions_url(project: Project | int) -> str:
    return reverse("executions", args=[getattr(project, "pk", project)])


def execution_url(project: Project | int, execution_id: int, name: str = "execution") -> str:
    return reverse(name, args=[getattr(project, "pk", project), execution_id])


def step_run_body(step_run: StepRun, **overrides: Any) -> dict[str, Any]:
    return {
        "id": step_run.pk,
        "execution_id": step_run.execution_id,
        "step_id": step_run.step_id,
        "name": step_run.name,
        "agent_type": step_run.agent_type,
        "prompt": step_run.prompt,
        "status": "pending",
        "output": None,
        "error": None,
        "metadata": {},
        "started_at": None,
        "finished_at": None,
        **overrides,
    }


def without_times(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("created_at", "updated_at")}


@pytest.mark.django_db
class TestCreate:
    def test_it_stores_a_pending_execution_with_resolved_step_runs(
        self, api_client: APIClient, project: Project, node: Node, template: AgentTemplate
    ) -> None:
        body = {"node_id": node.pk, "template_id": template.pk, "context": {"code": "x=1", "node": "overwritten"}}
        response = api_client.post(executions_url(project), body, format="json")
        assert response.status_code == 201
        execution = Execution.objects.get()
        runs = list(execution.step_runs.order_by("id"))
        steps = list(template.steps.order_by("id"))
        created = response.json()
        assert without_times(created) | {"step_runs": [without_times(r) for r in created["step_runs"]]} == {
            "id": execution.pk,
            "project_id": project.pk,
            "node_id": node.pk,
            "template_id": template.pk,
            "status": "pending",
            "tmux_session": f"exec-{execution.pk}",
            "worktree_path": None,
            "worktree_branch": None,
            **NO_LANDING,
            "metadata": {"code": "x=1", "node": "overwritten", "_create_worktree": False},
            "error": None,
            "max_budget_usd": None,
            "started_at": None,
            "finished_at": None,
            "spent_usd": 0.0,
            "attempt": 1,
            "attempt_group": None,
            "conversation": [],
            "step_runs": [
                without_times(step_run_body(runs[0], step_id=steps[0].pk, name="a", agent_type="claude")),
                without_times(step_run_body(runs[1], step_id=steps[1].pk, name="b", agent_type="codex")),
                without_times(step_run_body(runs[2], step_id=steps[2].pk, name="c", agent_type="gemini")),
            ],
        }
        # node is {id, title, description, prompt, metadata} here, so node.context stays verbatim.
        assert [r.prompt for r in runs] == ["A Login bug x=1", "B {{node.context}}||", "C {{a}} {{b}}"]
        assert list(runs[2].parents.order_by("id")) == runs[:2] and not runs[0].parents.exists()
        assert runs[0].settings == {
            "model_version": None,
            "thinking_budget": 8,
            "reasoning_level": None,
            "output_format": "text",
            "timeout_seconds": 30,
            "idle_timeout_seconds": None,
            "env": {"ORCHESTRA_TASK_MODE": "x"},
            "max_budget_usd": None,
        }
        assert (execution.queued, execution.workspace_path) == (False, project.workspace_path)
        assert execution.context["node"]["title"] == "Login bug" and execution.context["code"] == "x=1"

    def test_an_empty_body_stores_an_execution_without_step_runs(self, api_client: APIClient, project: Project) -> None:
        response = api_client.post(executions_url(project), {}, format="json")
        assert response.status_code == 201
        body = response.json()
        assert (body["node_id"], body["template_id"], body["step_runs"]) == (None, None, [])
        assert body["metadata"] == {"_create_worktree": False}

    def test_create_worktree_names_the_branch_and_folder(
        self, api_client: APIClient, project: Project, template: AgentTemplate
    ) -> None:
        body = {"template_id": template.pk, "create_worktree": True}
        created = api_client.post(executions_url(project), body, format="json").json()
        eid = created["id"]
        assert created["worktree_branch"] == f"agent/exec-{eid}"
        assert created["worktree_path"] == str(settings.WORKTREES_DIR / f"exec-{eid}")
        assert created["metadata"] == {"_create_worktree": True}

    @pytest.mark.parametrize(
        ("body", "status", "detail"),
        [
            ({"node_id": 999999}, 400, "Node not found in this project"),
            ({"template_id": 999999}, 400, "Template not found"),
            ({"context": []}, 400, 'context: Expected a dictionary of items but got type "list".'),
            ({"create_worktree": "yes"}, 400, "create_worktree: Must be true or false."),
            ({"node_id": "one"}, 400, "node_id: A valid integer is required."),
        ],
    )
    def test_bad_references_and_types_are_refused(
        self, api_client: APIClient, project: Project, body: dict[str, Any], status: int, detail: str
    ) -> None:
        response = api_client.post(executions_url(project), body, format="json")
        assert (response.status_code, response.json()["detail"]) == (status, detail)
        assert not Execution.objects.exists()

    def test_a_node_of_another_project_is_refused(self, api_client: APIClient, project: Project) -> None:
        other = project_services.project_create(name="Other")
        foreign = project_services.node_create(project_id=other.pk, title="f")
        response = api_client.post(executions_url(project), {"node_id": foreign.pk}, format="json")
        assert (response.status_code, response.json()) == (
            400,
            {"detail": "Node not found in this project", "message": "Node not found in this project"},
        )

    def test_a_missing_project_is_404(self, api_client: APIClient) -> None:
        for method in ("get", "post"):
            response = getattr(api_client, method)(executions_url(999999), {}, format="json")
            assert (response.status_code, response.json()) == (
                404,
                {"detail": "Project not found", "message": "Project not found"},
            )


@pytest.mark.django_db
class TestRead:
    def test_the_list_is_newest_first_without_step_runs_and_filters(
        self, api_client: APIClient, project: Project, node: Node, template: AgentTemplate
    ) -> None:
        first = executions.execution_create(project_id=project.pk, node_id=node.pk)
        second = executions.execution_create(project_id=project.pk, template_id=template.pk)
        third = executions.execution_create(project_id=project.pk, node_id=node.pk, template_id=template.pk)
        executions.execution_create(project_id=project_services.project_create(name="Other").pk)

        def ids(query: str = "") -> list[int]:
            response = api_client.get(executions_url(project) + query)
            assert response.status_code == 200
            assert all("step_runs" not in item for item in response.json())
            return [item["id"] for item in response.json()]

        assert ids() == [third.pk, second.pk, first.pk]
        assert ids(f"?node_id={node.pk}") == [third.pk, first.pk]
        assert ids(f"?template_id={template.pk}") == [third.pk, second.pk]
        assert ids(f"?node_id={node.pk}&template_id={template.pk}") == [third.pk]
        response = api_client.get(executions_url(project) + "?node_id=abc")
        assert (response.status_code, response.json()["detail"]) == (400, "node_id: A valid integer is required.")

    def test_get_answers_the_execution_with_its_step_runs(
        self, api_client: APIClient, project: Project, template: AgentTemplate
    ) -> None:
        created = api_client.post(executions_url(project), {"template_id": template.pk}, format="json").json()
        response = api_client.get(execution_url(project, created["id"]))
        assert (response.status_code, response.json()) == (200, created)

    def test_an_execution_of_another_project_or_a_missing_one_is_404(
        self, api_client: APIClient, project: Project
    ) -> None:
        other = project_services.project_create(name="Other")
        foreign = executions.execution_create(project_id=other.pk)
        routes = (
            ("get", "execution", ""),
            ("patch", "execution", ""),
            ("post", "execution-cancel", "/cancel"),
            ("get", "execution-attach-command", "/attach-command"),
            ("get", "execution-log", "/log"),
        )
        for eid in (foreign.pk, 999999, 10**18 - 1):
            for method, name, _ in routes:
                response = getattr(api_client, method)(execution_url(project, eid, name), {}, format="json")
                assert (response.status_code, response.json()) == (
                    404,
                    {"detail": "Execution not found", "message": "Execution not found"},
                )
        for eid in (10**18, 10**25):  # more digits than any id: no route, the JSON 404
            for method, _, suffix in routes:
                response = getattr(api_client, method)(f"{executions_url(project)}/{eid}{suffix}", {}, format="json")
                assert (response.status_code, response.json()) == (404, {"detail": "Not Found", "message": "Not Found"})
        assert Execution.objects.get(pk=foreign.pk).status == "pending"


@pytest.mark.django_db
class TestUpdate:
    def test_running_fills_started_at_once_and_finishing_sets_finished_at(
        self, api_client: APIClient, project: Project
    ) -> None:
        execution = executions.execution_create(project_id=project.pk)
        url = execution_url(project, execution.pk)
        running = api_client.patch(url, {"status": "running", "tmux_session": "mine", "id": 5}, format="json")
        assert running.status_code == 200
        body = running.json()
        assert "step_runs" not in body
        assert (body["id"], body["status"], body["tmux_session"], body["finished_at"]) == (
            execution.pk,
            "running",
            "mine",
            None,
        )
        started = body["started_at"]
        assert started.endswith("Z")
        again = api_client.patch(url, {"status": "running"}, format="json").json()
        assert again["started_at"] == started
        done = api_client.patch(url, {"status": "completed"}, format="json").json()
        assert (done["started_at"], done["status"]) == (started, "completed") and done["finished_at"].endswith("Z")
        refused = api_client.patch(url, {"status": "failed"}, format="json")
        assert (refused.status_code, refused.json()["detail"]) == (
            400,
            "status: the execution already finished; it keeps its status.",
        )
        kept = api_client.get(url).json()
        assert (kept["status"], kept["finished_at"]) == ("completed", done["finished_at"])

    def test_patch_replaces_metadata_and_clears_nullable_fields(self, api_client: APIClient, project: Project) -> None:
        execution = executions.execution_create(project_id=project.pk, create_worktree=True, context={"k": 1})
        url = execution_url(project, execution.pk)
        body = api_client.patch(url, {"metadata": {"new": True}, "worktree_path": None}, format="json").json()
        assert (body["metadata"], body["worktree_path"], body["worktree_branch"]) == (
            {"new": True},
            None,
            f"agent/exec-{execution.pk}",
        )
        assert api_client.patch(url, {"metadata": None}, format="json").json()["metadata"] == {}
        execution.refresh_from_db()
        assert (execution.metadata, execution.worktree_path, execution.status) == ({}, None, "pending")

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({"status": "done"}, 'status: "done" is not a valid choice.'),
            ({"status": None}, "status: This field may not be null."),
            ({"tmux_session": 3}, "tmux_session: Must be a string."),
            ({"worktree_path": "x" * 1025}, "worktree_path: Ensure this field has no more than 1024 characters."),
        ],
    )
    def test_invalid_patches_are_400(
        self, api_client: APIClient, project: Project, body: dict[str, Any], detail: str
    ) -> None:
        execution = executions.execution_create(project_id=project.pk)
        response = api_client.patch(execution_url(project, execution.pk), body, format="json")
        assert (response.status_code, response.json()["detail"]) == (400, detail)


@pytest.mark.django_db
class TestCancel:
    def test_it_cancels_and_skips_pending_and_running_step_runs(
        self, api_client: APIClient, project: Project, template: AgentTemplate
    ) -> None:
        execution = executions.execution_create(project_id=project.pk, template_id=template.pk)
        a, b, c = execution.step_runs.order_by("id")
        StepRun.objects.filter(pk=a.pk).update(status="completed", output="done")
        StepRun.objects.filter(pk=b.pk).update(status="running")
        response = api_client.post(execution_url(project, execution.pk, "execution-cancel"))
        assert response.status_code == 200
        body = response.json()
        assert "step_runs" not in body
        assert (body["id"], body["status"]) == (execution.pk, "cancelled") and body["finished_at"].endswith("Z")
        rows = {r.pk: r for r in StepRun.objects.filter(execution=execution)}
        assert [(rows[r.pk].status, rows[r.pk].finished_at is not None) for r in (a, b, c)] == [
            ("completed", False),
            ("skipped", True),
            ("skipped", True),
        ]

    @pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
    def test_a_finished_execution_cannot_be_cancelled(
        self, api_client: APIClient, project: Project, status: str
    ) -> None:
        execution = executions.execution_create(project_id=project.pk)
        Execution.objects.filter(pk=execution.pk).update(status=status)
        response = api_client.post(execution_url(project, execution.pk, "execution-cancel"))
        assert (response.status_code, response.json()) == (
            400,
            {"detail": "Execution already finished", "message": "Execution already finished"},
        )
        assert Execution.objects.get(pk=execution.pk).status == status


@pytest.mark.django_db
class TestAttachCommand:
    def test_it_answers_the_command_that_follows_the_execution(self, api_client: APIClient, project: Project) -> None:
        execution = executions.execution_create(project_id=project.pk)
        response = api_client.get(execution_url(project, execution.pk, "execution-attach-command"))
        assert response.status_code == 200
        manage = str(settings.BASE_DIR / "manage.py")
        assert response.json() == {
            "success": True,
            "command": shlex.join([sys.executable, manage, "follow_execution", str(execution.pk)]),
            "note": response.json()["note"],
        }
        assert response.json()["command"].endswith(f"manage.py follow_execution {execution.pk}")
        assert "follow" in response.json()["note"]

    def test_without_a_tmux_session_it_is_400(self, api_client: APIClient, project: Project) -> None:
        execution = executions.execution_create(project_id=project.pk)
        Execution.objects.filter(pk=execution.pk).update(tmux_session=None)
        response = api_client.get(execution_url(project, execution.pk, "execution-attach-command"))
        assert (response.status_code, response.json()) == (
            400,
            {"detail": "No tmux session for this execution", "message": "No tmux session for this execution"},
        )


@pytest.mark.django_db
class TestStepRunUpdate:
    def test_it_updates_a_step_run_with_the_timestamp_rules(
        self, api_client: APIClient, project: Project, template: AgentTemplate
    ) -> None:
        execution = executions.execution_create(project_id=project.pk, template_id=template.pk)
        step_run = execution.step_runs.order_by("id").first()
        assert step_run is not None
        url = reverse("step-run", args=[project.pk, execution.pk, step_run.pk])
        running = api_client.patch(url, {"status": "running", "metadata": {"pid": 1}, "name": "ignored"}, format="json")
        assert running.status_code == 200
        body = running.json()
        assert without_times(body) == without_times(
            step_run_body(step_run, status="running", metadata={"pid": 1}, started_at=body["started_at"])
        )
        done = api_client.patch(url, {"status": "completed", "output": "out", "error": None}, format="json").json()
        assert (done["status"], done["output"], done["started_at"]) == ("completed", "out", body["started_at"])
        assert done["finished_at"].endswith("Z")
        for status in ("failed", "skipped"):
            other = executions.execution_create(project_id=project.pk, template_id=template.pk).step_runs.first()
            assert other is not None
            other_url = reverse("step-run", args=[project.pk, other.execution_id, other.pk])
            ended = api_client.patch(other_url, {"status": status}, format="json").json()
            assert (ended["status"], ended["started_at"]) == (status, None)
            assert ended["finished_at"].endswith("Z")
        refused = api_client.patch(url, {"status": "failed", "output": "changed"}, format="json")
        assert (refused.status_code, refused.json()["detail"]) == (
            400,
            "status: the step run already finished; it keeps its status.",
        )
        step_run.refresh_from_db()
        assert (step_run.status, step_run.output, step_run.name) == ("completed", "out", "a")

    def test_a_step_run_outside_the_execution_or_project_is_404(
        self, api_client: APIClient, project: Project, template: AgentTemplate
    ) -> None:
        execution = executions.execution_create(project_id=project.pk, template_id=template.pk)
        other_execution = executions.execution_create(project_id=project.pk, template_id=template.pk)
        other_project = project_services.project_create(name="Other")
        step_run = execution.step_runs.first()
        assert step_run is not None
        for pid, eid in ((project.pk, other_execution.pk), (other_project.pk, execution.pk), (project.pk, 999999)):
            response = api_client.patch(reverse("step-run", args=[pid, eid, step_run.pk]), {}, format="json")
            assert (response.status_code, response.json()) == (
                404,
                {"detail": "Step run not found", "message": "Step run not found"},
            )
        response = api_client.patch(reverse("step-run", args=[project.pk, execution.pk, 999999]), {}, format="json")
        assert (response.status_code, response.json()) == (
            404,
            {"detail": "Step run not found", "message": "Step run not found"},
        )

    def test_an_invalid_status_is_400(self, api_client: APIClient, project: Project, template: AgentTemplate) -> None:
        execution = executions.execution_create(project_id=project.pk, template_id=template.pk)
        step_run = execution.step_runs.first()
        assert step_run is not None
        url = reverse("step-run", args=[project.pk, execution.pk, step_run.pk])
        response = api_client.patch(url, {"status": "cancelled"}, format="json")
        assert (response.status_code, response.json()["detail"]) == (400, 'status: "cancelled" is not a valid choice.')


def test_deleting_a_project_deletes_its_executions_and_step_runs(
    api_client: APIClient, project: Project, template: AgentTemplate
) -> None:
    executions.execution_create(project_id=project.pk, template_id=template.pk)
    response = api_client.delete(reverse("project-detail", args=[project.pk]))
    assert response.status_code == 204
    assert not Execution.objects.exists() and not StepRun.objects.exists()


def test_deleting_a_node_detaches_its_executions(api_client: APIClient, project: Project, node: Node) -> None:
    execution = executions.execution_create(project_id=project.pk, node_id=node.pk)
    assert api_client.delete(reverse("node-detail", args=[project.pk, node.pk])).status_code == 204
    execution.refresh_from_db()
    assert execution.node_id is None


# --- Events -------------------------------------------------------------------------------------


def http(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return sync_to_async(lambda: getattr(APIClient(), method)(path, body, format="json"))()


@pytest.mark.django_db(transaction=True)
async def test_each_change_is_broadcast_to_the_project_socket() -> None:
    project = await sync_to_async(project_services.project_create)(name="Live")
    template = await sync_to_async(templates.template_create)(
        name="T", steps=[{"name": "s", "agent_type": "claude", "prompt_template": "p"}]
    )
    socket = HubCommunicator(f"/projects/{project.pk}/subscribe")
    assert (await socket.connect())[0]
    try:
        created = (await http("post", executions_url(project), {"template_id": template.pk})).json()
        eid, srid = created["id"], created["step_runs"][0]["id"]
        assert await socket.receive_json_from() == {
            "event": "execution.created",
            "data": {
                "id": eid,
                "node_id": None,
                "template_id": template.pk,
                "status": "pending",
                "attempt": 1,
                "attempt_group": None,
            },
        }
        await http("patch", execution_url(project, eid), {"status": "running"})
        assert await socket.receive_json_from() == {
            "event": "execution.updated",
            "data": {
                "id": eid,
                "node_id": None,
                "status": "running",
                "attempt": 1,
                "attempt_group": None,
                **NO_LANDING,
            },
        }
        await http("patch", reverse("step-run", args=[project.pk, eid, srid]), {"status": "running"})
        assert await socket.receive_json_from() == {
            "event": "step_run.updated",
            "data": {"id": srid, "execution_id": eid, "status": "running"},
        }
        await http("post", execution_url(project, eid, "execution-cancel"))
        assert await socket.receive_json_from() == {
            "event": "execution.updated",
            "data": {
                "id": eid,
                "node_id": None,
                "status": "cancelled",
                "attempt": 1,
                "attempt_group": None,
                **NO_LANDING,
            },
        }
        assert await socket.receive_json_from() == {
            "event": "step_run.updated",
            "data": {"id": srid, "execution_id": eid, "status": "skipped"},
        }
        await http("post", execution_url(project, eid, "execution-cancel"))  # refused: no event
        assert await socket.receive_nothing(timeout=0.2)
    finally:
        await socket.disconnect()


@pytest.mark.django_db
def test_the_execution_status_event_has_the_form_of_each_status(project: Project) -> None:
    from agents.events import execution_status_data
    from agents.selectors import attach_command

    execution = executions.execution_create(project_id=project.pk)
    assert execution_status_data(execution) == {
        "id": execution.pk,
        "status": "pending",
        "message": "queued for the hub's runner",
    }
    execution.status, execution.error = "running", None
    assert execution_status_data(execution) == {
        "id": execution.pk,
        "status": "running",
        "tmux_session": f"exec-{execution.pk}",
        "attach_command": attach_command(execution.pk),
    }
    execution.status, execution.error = "failed", "step(s) failed: a"
    assert execution_status_data(execution) == {"id": execution.pk, "status": "failed", "error": "step(s) failed: a"}
    execution.status = "completed"
    assert execution_status_data(execution) == {"id": execution.pk, "status": "completed"}
