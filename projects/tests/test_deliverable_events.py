"""The project socket during a pipeline: ``deliverable_create`` and ``node_set_status`` send the
events the desktop relies on, with the full node, after commit and only then."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

from orchestra_site.api.exceptions import InvalidInput
from projects import services
from projects.models import Deliverable
from projects.tests.helpers import node_body
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def project():
    return await sync_to_async(services.project_create)(name="Live")


@pytest.fixture
async def node(project):
    return await sync_to_async(services.node_create)(project_id=project.pk, title="Research", status="in_progress")


@pytest.fixture
async def socket(project, node):
    communicator = HubCommunicator(f"/projects/{project.pk}/subscribe")
    connected, _ = await communicator.connect()
    assert connected
    yield communicator
    await communicator.disconnect()


def node_as_answered(project_id: int, node_id: int) -> dict:
    return APIClient().get(reverse("node-detail", args=[project_id, node_id])).json()


async def test_deliverable_create_sends_deliverable_created_then_the_full_node(socket, project, node):
    deliverable = await sync_to_async(services.deliverable_create)(
        node=node, type="sources", name="sources.md", content="https://a.example", status="completed"
    )

    assert await socket.receive_json_from() == {
        "event": "deliverable.created",
        "data": {
            "node_id": node.pk,
            "execution_id": None,
            "deliverable_id": deliverable.pk,
            "type": "sources",
            "name": "sources.md",
        },
    }
    frame = await socket.receive_json_from()
    assert frame["event"] == "node.updated"
    assert frame["data"] == await sync_to_async(node_as_answered)(project.pk, node.pk)
    assert frame["data"] == node_body(id=node.pk, project_id=project.pk, title="Research", status="in_progress")
    assert await socket.receive_nothing(timeout=0.2)


async def test_a_refused_deliverable_sends_nothing_and_writes_nothing(socket, node):
    with pytest.raises(InvalidInput, match=r"^type: "):
        await sync_to_async(services.deliverable_create)(node=node, type="essay", name="x.md")
    with pytest.raises(InvalidInput, match=r"^name: "):
        await sync_to_async(services.deliverable_create)(node=node, type="plan", name="../etc/passwd")

    assert await socket.receive_nothing(timeout=0.2)
    assert await sync_to_async(Deliverable.objects.count)() == 0


async def test_events_wait_for_the_callers_transaction(socket, node):
    def create_then_roll_back() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.deliverable_create(node=node, type="plan", name="plan.md")
            services.node_set_status(node=node, status="needs_review")
            raise RuntimeError("the pipeline failed before commit")

    await sync_to_async(create_then_roll_back)()

    assert await socket.receive_nothing(timeout=0.2)
    assert await sync_to_async(Deliverable.objects.count)() == 0


async def test_node_set_status_sends_the_full_node(socket, project, node):
    written = await sync_to_async(services.node_set_status)(node=node, status="needs_review")

    assert written is True
    assert node.status == "needs_review"
    frame = await socket.receive_json_from()
    assert frame == {"event": "node.updated", "data": await sync_to_async(node_as_answered)(project.pk, node.pk)}
    assert frame["data"]["status"] == "needs_review"
    assert frame["data"]["parent_ids"] == []


async def test_node_set_status_is_a_compare_and_set(socket, project, node):
    # A person set the node to blocked meanwhile: the pipeline's write loses, and says so.
    await sync_to_async(APIClient().patch)(
        reverse("node-detail", args=[project.pk, node.pk]), {"status": "blocked"}, format="json"
    )
    assert (await socket.receive_json_from())["data"]["status"] == "blocked"

    written = await sync_to_async(services.node_set_status)(node=node, status="needs_review", expected={"in_progress"})

    assert written is False
    assert await socket.receive_nothing(timeout=0.2)
    assert (await sync_to_async(node_as_answered)(project.pk, node.pk))["status"] == "blocked"

    assert await sync_to_async(services.node_set_status)(node=node, status="in_progress", expected={"blocked"})
    assert (await socket.receive_json_from())["data"]["status"] == "in_progress"


def call(method: str, path: str, body: object = None) -> Any:
    return sync_to_async(lambda: getattr(APIClient(), method)(path, body, format="json"))()


async def test_node_created_and_updated_events_carry_the_new_fields(socket, project):
    sent = {"title": "Gate", "node_type": "hook", "expected_deliverables": [{"type": "plan", "name": "plan.md"}]}
    created = (await call("post", reverse("node-list", args=[project.pk]), sent)).json()

    assert await socket.receive_json_from() == {"event": "node.created", "data": created}
    assert created["node_type"] == "hook"
    assert created["expected_deliverables"] == [
        {"type": "plan", "name": "plan.md", "required": True, "description": ""}
    ]

    patched = (
        await call("patch", reverse("node-detail", args=[project.pk, created["id"]]), {"node_type": None})
    ).json()
    assert await socket.receive_json_from() == {"event": "node.updated", "data": patched}
    assert patched["node_type"] == "task"


async def test_posting_a_deliverable_sends_the_same_events_as_the_pipeline(socket, project, node):
    url = reverse("deliverable-list", args=[project.pk, node.pk])
    created = (await call("post", url, {"type": "plan", "name": "plan.md", "content": "## Plan"})).json()

    assert await socket.receive_json_from() == {
        "event": "deliverable.created",
        "data": {
            "node_id": node.pk,
            "execution_id": None,
            "deliverable_id": created["id"],
            "type": "plan",
            "name": "plan.md",
        },
    }
    assert await socket.receive_json_from() == {
        "event": "node.updated",
        "data": await sync_to_async(node_as_answered)(project.pk, node.pk),
    }

    detail = reverse("deliverable-detail", args=[project.pk, node.pk, created["id"]])
    await call("patch", detail, {"status": "validated"})
    await call("delete", detail)
    await call("post", url, {"type": "plan", "name": "../x"})  # refused
    assert await socket.receive_nothing(timeout=0.2)


async def test_hook_config_changes_send_the_full_node_when_its_type_changes(socket, project, node):
    hook_url = reverse("node-hook", args=[project.pk, node.pk])

    await call("post", hook_url, {"validation_rules": {"plan.md": "##"}})
    frame = await socket.receive_json_from()
    assert frame == {"event": "node.updated", "data": await sync_to_async(node_as_answered)(project.pk, node.pk)}
    assert frame["data"]["node_type"] == "hook"

    await call("patch", hook_url, {"max_retries": 3})
    await call("post", hook_url, {})  # already exists: refused
    assert await socket.receive_nothing(timeout=0.2)

    await call("delete", hook_url)
    frame = await socket.receive_json_from()
    assert frame["event"] == "node.updated"
    assert frame["data"]["node_type"] == "task"
    assert frame["data"]["title"] == "Research"

    await call("delete", hook_url)  # idempotent, and nothing changed: no event
    assert await socket.receive_nothing(timeout=0.2)


async def test_deliverable_create_checks_the_execution_in_the_nodes_project(project, node):
    from agents.models import Execution

    other = await sync_to_async(services.project_create)(name="Other")
    mine = await sync_to_async(Execution.objects.create)(project=project, node=node, status="running")
    foreign = await sync_to_async(Execution.objects.create)(project=other, status="running")

    made = await sync_to_async(services.deliverable_create)(
        node=node, type="plan", name="plan.md", status="completed", execution_id=mine.pk
    )
    assert made.execution_id == mine.pk
    with pytest.raises(InvalidInput, match=r"^Execution not found$"):
        await sync_to_async(services.deliverable_create)(
            node=node, type="plan", name="plan.md", execution_id=foreign.pk
        )
    assert await sync_to_async(Deliverable.objects.count)() == 1
