from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from rest_framework.test import APIClient

from projects import services
from projects.tests.helpers import node_body
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


def http(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the API from a thread, as a request handler would; returns the response."""

    def call():
        return getattr(APIClient(), method)(path, body, format="json")

    return sync_to_async(call)()


@pytest.fixture
async def project():
    return await sync_to_async(services.project_create)(name="Live")


@pytest.fixture
async def socket(project):
    communicator = HubCommunicator(f"/projects/{project.pk}/subscribe")
    connected, _ = await communicator.connect()
    assert connected
    yield communicator
    await communicator.disconnect()


async def test_an_unknown_project_is_closed_with_4004_before_accept():
    communicator = HubCommunicator("/projects/424242/subscribe")

    connected, code = await communicator.connect()

    assert (connected, code) == (False, 4004)
    await communicator.disconnect()


async def test_it_connects_silently_and_discards_what_the_client_sends(socket):
    await socket.send_to(text_data="hello")
    await socket.send_to(text_data='{"event": "ping"}')

    assert await socket.receive_nothing(timeout=0.2)


async def test_node_events_arrive_after_the_http_calls(socket, project):
    created = await http("post", reverse("node-list", args=[project.pk]), {"title": "a"})
    node = created.json()

    assert await socket.receive_json_from() == {"event": "node.created", "data": created.json()}

    child = (await http("post", reverse("node-list", args=[project.pk]), {"title": "b"})).json()
    await socket.receive_json_from()
    updated = await http("patch", reverse("node-detail", args=[project.pk, child["id"]]), {"parent_ids": [node["id"]]})

    frame = await socket.receive_json_from()
    assert frame == {"event": "node.updated", "data": updated.json()}
    assert frame["data"] == node_body(id=child["id"], project_id=project.pk, title="b", parent_ids=[node["id"]])

    await http("delete", reverse("node-detail", args=[project.pk, node["id"]]))

    assert await socket.receive_json_from() == {"event": "node.deleted", "data": {"id": node["id"]}}
    # The child lost its parent, but no node.updated is sent for it.
    assert await socket.receive_nothing(timeout=0.2)


async def test_run_events_carry_id_node_and_status(socket, project):
    node = (await http("post", reverse("node-list", args=[project.pk]), {"title": "a"})).json()
    await socket.receive_json_from()

    run = (
        await http(
            "post",
            reverse("run-list", args=[project.pk]),
            {"node_id": node["id"], "agent_type": "claude", "prompt": "p"},
        )
    ).json()
    assert await socket.receive_json_from() == {
        "event": "run.created",
        "data": {"id": run["id"], "node_id": node["id"], "status": "queued"},
    }

    await http("patch", reverse("run-detail", args=[project.pk, run["id"]]), {"status": "running"})
    assert await socket.receive_json_from() == {
        "event": "run.updated",
        "data": {"id": run["id"], "node_id": node["id"], "status": "running"},
    }


async def test_refused_changes_and_other_projects_send_nothing(socket, project):
    other = await sync_to_async(services.project_create)(name="Other")

    await http("post", reverse("node-list", args=[other.pk]), {"title": "elsewhere"})
    await http("post", reverse("node-list", args=[project.pk]), {"title": "bad", "parent_ids": [999]})
    await http("post", reverse("task-list"), {"title": "tasks send no events", "project_id": project.pk})

    assert await socket.receive_nothing(timeout=0.2)


async def test_every_subscriber_of_the_project_gets_the_event(socket, project):
    second = HubCommunicator(f"/projects/{project.pk}/subscribe/")
    assert (await second.connect())[0]

    created = (await http("post", reverse("node-list", args=[project.pk]), {"title": "a"})).json()

    assert (await socket.receive_json_from())["data"] == created
    assert (await second.receive_json_from())["data"] == created
    await second.disconnect()


async def test_the_seed_path_ws_subscribe_is_the_same_project_socket(socket, project):
    seed_path = HubCommunicator(f"/ws/subscribe/{project.pk}")
    assert (await seed_path.connect())[0]
    unknown = HubCommunicator("/ws/subscribe/424242")
    assert await unknown.connect() == (False, 4004)

    created = (await http("post", reverse("node-list", args=[project.pk]), {"title": "a"})).json()

    assert await seed_path.receive_json_from() == {"event": "node.created", "data": created}
    assert (await socket.receive_json_from())["data"] == created
    await seed_path.disconnect()
    await unknown.disconnect()


async def test_deleting_the_project_sends_no_event(socket, project):
    response = await http("delete", reverse("project-detail", args=[project.pk]))

    assert response.status_code == 204
    assert await socket.receive_nothing(timeout=0.2)
