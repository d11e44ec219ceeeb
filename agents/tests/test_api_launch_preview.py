"""Preview and launch, and the OpenAPI schema of the agents API."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from agents.models import AgentTemplate, Execution, StepRun
from agents.services import templates
from agents.tests.test_api_executions import NO_LANDING
from orchestra_site.models import OutboxEvent
from projects import services as project_services
from projects.models import Node, Project
from tests.support.communicators import HubCommunicator
from tests.support.openapi_check import SchemaChecker, hub_openapi

LANDING_PATHS = ("/diff", "/merge", "/push", "/pull-request", "/worktree")

NODE_METADATA = {
    "resources": [{"kind": "url", "title": "Spec", "url": "https://s", "notes": None}],
    "extra": {"k": "v"},
}


@pytest.fixture
def project(db: None) -> Project:
    return project_services.project_create(name="P")


@pytest.fixture
def node(project: Project) -> Node:
    return project_services.node_create(
        project_id=project.pk,
        title="Add cache",
        description=None,
        prompt="Make it fast",
        context="Redis is available",
        agent_type="claude",
        metadata=NODE_METADATA,
    )


@pytest.fixture
def template(db: None) -> AgentTemplate:
    return templates.template_create(
        name="Two steps",
        steps=[
            {
                "name": "Plan",
                "agent_type": "claude",
                "prompt_template": "{{node.title}}: {{node.prompt}} [{{node.description}}] {{topic}}",
            },
            {
                "name": "Do",
                "agent_type": "codex",
                "prompt_template": "{{ node.title }} {{Plan}} {{node.metadata.extra.k}} {{node.context}}",
            },
        ],
        edges=[(0, 1)],
    )


def preview_url(project: Project | int, node: Node | int) -> str:
    return reverse("launch-preview", args=[getattr(project, "pk", project), getattr(node, "pk", node)])


def launch_url(project: Project | int, node: Node | int) -> str:
    return reverse("launch", args=[getattr(project, "pk", project), getattr(node, "pk", node)])


def node_context(node: Node) -> dict[str, Any]:
    return {
        "id": node.pk,
        "title": "Add cache",
        "description": None,
        "prompt": "Make it fast",
        "context": "Redis is available",
        "agent_type": "claude",
        "status": "pending",
        "metadata": NODE_METADATA,
    }


def test_preview_resolves_every_step_against_the_merged_context(
    api_client: APIClient, project: Project, node: Node, template: AgentTemplate
) -> None:
    outbox = OutboxEvent.objects.count()
    response = api_client.post(
        preview_url(project, node), {"template_id": template.pk, "create_worktree": True}, format="json"
    )
    assert response.status_code == 200
    plan, do = template.steps.order_by("id")
    assert response.json() == {
        "template_id": template.pk,
        "context": {"node": node_context(node)},
        "resolved_prompts": [
            {
                "step_id": plan.pk,
                "step_name": "Plan",
                "agent_type": "claude",
                "prompt_template": plan.prompt_template,
                "resolved_prompt": "Add cache: Make it fast [] {{topic}}",
            },
            {
                "step_id": do.pk,
                "step_name": "Do",
                "agent_type": "codex",
                "prompt_template": do.prompt_template,
                "resolved_prompt": "{{ node.title }} {{Plan}} v Redis is available",
            },
        ],
    }
    assert not Execution.objects.exists() and OutboxEvent.objects.count() == outbox


def test_a_request_context_is_merged_shallowly_and_wins(
    api_client: APIClient, project: Project, node: Node, template: AgentTemplate
) -> None:
    body = {"template_id": template.pk, "context": {"topic": "perf", "node": {"title": "Mine"}}}
    preview = api_client.post(preview_url(project, node), body, format="json").json()
    assert preview["context"] == {"node": {"title": "Mine"}, "topic": "perf"}
    assert [p["resolved_prompt"] for p in preview["resolved_prompts"]] == [
        "Mine: {{node.prompt}} [{{node.description}}] perf",
        "{{ node.title }} {{Plan}} {{node.metadata.extra.k}} {{node.context}}",
    ]


def test_launch_stores_exactly_what_preview_showed_and_queues_it(
    api_client: APIClient, project: Project, node: Node, template: AgentTemplate
) -> None:
    body = {"template_id": template.pk, "context": {"topic": "perf"}}
    preview = api_client.post(preview_url(project, node), body, format="json").json()
    response = api_client.post(launch_url(project, node), body, format="json")
    assert response.status_code == 201
    execution = Execution.objects.get()
    plan_run, do_run = execution.step_runs.order_by("id")
    plan, do = template.steps.order_by("id")
    created = response.json()
    assert {k: v for k, v in created.items() if k not in ("created_at", "updated_at", "step_runs", "spent_usd")} == {
        "id": execution.pk,
        "project_id": project.pk,
        "node_id": node.pk,
        "template_id": template.pk,
        "status": "pending",
        "tmux_session": f"exec-{execution.pk}",
        "worktree_path": None,
        "worktree_branch": None,
        **NO_LANDING,
        "metadata": {"context": preview["context"], "_create_worktree": False},
        "error": None,
        "max_budget_usd": None,
        "started_at": None,
        "finished_at": None,
        "attempt": 1,
        "attempt_group": None,
        "conversation": [],
    }
    assert [
        (r["id"], r["step_id"], r["name"], r["agent_type"], r["status"], r["prompt"]) for r in created["step_runs"]
    ] == [
        (plan_run.pk, plan.pk, "Plan", "claude", "pending", preview["resolved_prompts"][0]["resolved_prompt"]),
        (do_run.pk, do.pk, "Do", "codex", "pending", preview["resolved_prompts"][1]["resolved_prompt"]),
    ]
    assert list(do_run.parents.all()) == [plan_run] and list(plan_run.children.all()) == [do_run]
    assert (execution.queued, execution.workspace_path, execution.context) == (
        True,
        project.workspace_path,
        preview["context"],
    )
    assert do_run.settings["output_format"] == "text"


def test_launch_with_a_worktree_names_the_branch_and_folder(
    api_client: APIClient, project: Project, node: Node, template: AgentTemplate
) -> None:
    body = {"template_id": template.pk, "create_worktree": True}
    created = api_client.post(launch_url(project, node), body, format="json").json()
    eid = created["id"]
    assert (created["worktree_branch"], created["worktree_path"]) == (
        f"agent/exec-{eid}",
        str(settings.WORKTREES_DIR / f"exec-{eid}"),
    )
    assert created["metadata"]["_create_worktree"] is True


@pytest.mark.parametrize("route", ["launch-preview", "launch"])
def test_404s_come_in_the_order_project_node_template(
    api_client: APIClient, project: Project, node: Node, template: AgentTemplate, route: str
) -> None:
    other = project_services.project_create(name="Other")
    foreign = project_services.node_create(project_id=other.pk, title="f")
    cases = [
        ((999999, 999999), 999999, "Project not found"),
        ((project.pk, 999999), 999999, "Node not found"),
        ((project.pk, foreign.pk), template.pk, "Node not found"),
        ((project.pk, node.pk), 999999, "Template not found"),
    ]
    for args, template_id, detail in cases:
        response = api_client.post(reverse(route, args=args), {"template_id": template_id}, format="json")
        assert (response.status_code, response.json()) == (404, {"detail": detail, "message": detail})
    assert not Execution.objects.exists() and not StepRun.objects.exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "template_id: This field is required."),
        ({"template_id": None}, "template_id: This field may not be null."),
        ({"template_id": "x"}, "template_id: A valid integer is required."),
        ({"template_id": 1, "context": "x"}, 'context: Expected a dictionary of items but got type "str".'),
        ({"template_id": 1, "create_worktree": 1}, "create_worktree: Must be true or false."),
    ],
)
def test_invalid_launch_requests_are_400(
    api_client: APIClient, project: Project, node: Node, body: dict[str, Any], detail: str
) -> None:
    for url in (preview_url(project, node), launch_url(project, node)):
        response = api_client.post(url, body, format="json")
        assert (response.status_code, response.json()["detail"]) == (400, detail)


@pytest.mark.django_db(transaction=True)
async def test_launch_broadcasts_created_then_queued_for_the_hubs_runner() -> None:
    project = await sync_to_async(project_services.project_create)(name="Live")
    node = await sync_to_async(project_services.node_create)(project_id=project.pk, title="N")
    template = await sync_to_async(templates.template_create)(
        name="T", steps=[{"name": "s", "agent_type": "claude", "prompt_template": "p"}]
    )
    socket = HubCommunicator(f"/projects/{project.pk}/subscribe")
    assert (await socket.connect())[0]
    try:
        await sync_to_async(
            lambda: APIClient().post(preview_url(project, node), {"template_id": template.pk}, format="json")
        )()
        response = await sync_to_async(
            lambda: APIClient().post(launch_url(project, node), {"template_id": template.pk}, format="json")
        )()
        eid = response.json()["id"]
        assert await socket.receive_json_from() == {
            "event": "execution.created",
            "data": {
                "id": eid,
                "node_id": node.pk,
                "template_id": template.pk,
                "status": "pending",
                "attempt": 1,
                "attempt_group": None,
            },
        }
        assert await socket.receive_json_from() == {
            "event": "execution.status",
            "data": {"id": eid, "status": "pending", "message": "queued for the hub's runner"},
        }
        assert await socket.receive_nothing(timeout=0.2)
    finally:
        await socket.disconnect()


# --- The OpenAPI schema describes what these endpoints really answer --------------------------


LAUNCH_PATHS = ("/preview", "/launch")


def test_every_agents_endpoint_has_request_and_response_schemas_that_match_real_answers(
    api_client: APIClient, project: Project, node: Node, template: AgentTemplate
) -> None:
    checker = SchemaChecker(hub_openapi(), api_client)
    call = checker.call

    tid = call(
        "post",
        "/agent-templates",
        201,
        {"name": "S", "steps": [{"name": "a", "agent_type": "claude", "prompt_template": "x"}]},
    )["id"]
    call("get", "/agent-templates", 200)
    call("get", "/agent-templates/{tid}", 200, tid=tid)
    call("patch", "/agent-templates/{tid}", 200, {"description": "d"}, tid=tid)
    sid = call(
        "post",
        "/agent-templates/{tid}/steps",
        201,
        {"name": "b", "agent_type": "codex", "prompt_template": "y"},
        tid=tid,
    )["id"]
    first = AgentTemplate.objects.get(pk=tid).steps.order_by("id").first()
    assert first is not None
    call("patch", "/agent-templates/{tid}/steps/{sid}", 200, {"model_version": "m"}, tid=tid, sid=sid)
    call("post", "/agent-templates/{tid}/edges", 201, {"parent_id": first.pk, "child_id": sid}, tid=tid)
    call("delete", "/agent-templates/{tid}/edges", 204, {"parent_id": first.pk, "child_id": sid}, tid=tid)
    pid, nid = project.pk, node.pk
    call("post", "/projects/{pid}/nodes/{nid}/preview", 200, {"template_id": template.pk}, pid=pid, nid=nid)
    launched = call("post", "/projects/{pid}/nodes/{nid}/launch", 201, {"template_id": template.pk}, pid=pid, nid=nid)
    eid, srid = launched["id"], launched["step_runs"][0]["id"]
    record = call("post", "/projects/{pid}/executions", 201, {"template_id": tid}, pid=pid)
    call("get", "/projects/{pid}/executions", 200, pid=pid)
    call("get", "/projects/{pid}/executions/{eid}", 200, pid=pid, eid=eid)
    # A launched execution's status belongs to the runner; a record's is the client's to set.
    call("patch", "/projects/{pid}/executions/{eid}", 200, {"status": "running"}, pid=pid, eid=record["id"])
    call("patch", "/projects/{pid}/executions/{eid}/steps/{srid}", 200, {"output": "o"}, pid=pid, eid=eid, srid=srid)
    call("get", "/projects/{pid}/executions/{eid}/attach-command", 200, pid=pid, eid=eid)
    call("get", "/projects/{pid}/executions/{eid}/log", 200, pid=pid, eid=eid)
    call("post", "/projects/{pid}/executions/{eid}/cancel", 200, pid=pid, eid=eid)
    call("get", "/projects/{pid}/executions/{eid}/messages", 200, pid=pid, eid=eid)
    call("post", "/projects/{pid}/executions/{eid}/messages", 409, {"prompt": "go on"}, pid=pid, eid=eid)
    call("get", "/executions", 200)
    call("post", "/launch", 201, {"project_id": pid, "node_id": nid, "template_id": template.pk})
    call("delete", "/agent-templates/{tid}/steps/{sid}", 204, tid=tid, sid=sid)
    call("delete", "/agent-templates/{tid}", 204, tid=tid)

    ours = checker.documented(
        lambda path: (
            (path.startswith("/agent-templates") or "/executions" in path or path.endswith(("/preview", "/launch")))
            and not path.endswith(LANDING_PATHS)
        )  # test_landing_schema.py
    )
    assert len(ours) == 24
    assert checker.seen == ours
