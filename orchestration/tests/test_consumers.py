"""The contract's checklist, as WebSocket clients see it."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from orchestration import services
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

set_desired = database_sync_to_async(services.workspace_set_desired)
set_running = database_sync_to_async(services.workspace_set_running)


async def connect(*subscriptions: str) -> HubCommunicator:
    client = HubCommunicator("/orchestration")
    connected, _ = await client.connect()
    assert connected
    first = await client.receive_event()
    assert first["event"] == "orchestration.global"
    for workspace_id in subscriptions:
        await client.send_event("subscribe", {"workspaceId": workspace_id})
        assert await client.receive_event() == {"event": "subscribed", "data": {"workspaceId": workspace_id}}
        current = await client.receive_event()
        assert current["event"] == "orchestration.workspace"
    return client


def strip_version(frame: dict[str, Any]) -> dict[str, Any]:
    return {"event": frame["event"], "data": {k: v for k, v in frame["data"].items() if k != "version"}}


async def test_the_checklist_as_written() -> None:
    plain, on_a, on_b = await connect(), await connect("/ws/A"), await connect("/ws/B")
    everyone = (plain, on_a, on_b)

    # 1. A desired 3, B desired 2: every client sees global desired 5.
    await set_desired(path="/ws/A", desired=3)
    await set_desired(path="/ws/B", desired=2)
    for client in everyone:
        await client.receive_event()  # global desired 3
    assert strip_version(await on_a.receive_event()) == {
        "event": "orchestration.workspace",
        "data": {"workspaceId": "/ws/A", "workspace_id": "/ws/A", "running": 0, "desired": 3},
    }
    for client in everyone:
        frame = await client.receive_event()
        assert strip_version(frame) == {"event": "orchestration.global", "data": {"running": 0, "desired": 5}}
    await on_b.receive_event()  # B's own workspace event

    # 2. An agent starts in A: A's subscribers see running 1, everyone sees global running 1.
    await set_running(path="/ws/A", running=1)
    for client in everyone:
        frame = await client.receive_event()
        assert strip_version(frame) == {"event": "orchestration.global", "data": {"running": 1, "desired": 5}}
    assert strip_version(await on_a.receive_event())["data"] == {
        "workspaceId": "/ws/A",
        "workspace_id": "/ws/A",
        "running": 1,
        "desired": 3,
    }
    assert await on_b.receive_nothing()

    # 3. An agent starts in B: clients of A and of B both see global running 2.
    await set_running(path="/ws/B", running=1)
    for client in everyone:
        frame = await client.receive_event()
        assert strip_version(frame) == {"event": "orchestration.global", "data": {"running": 2, "desired": 5}}
    await on_b.receive_event()
    assert await on_a.receive_nothing()

    # 4. A desired 5: every client sees global desired 7.
    await set_desired(path="/ws/A", desired=5)
    for client in everyone:
        frame = await client.receive_event()
        assert strip_version(frame) == {"event": "orchestration.global", "data": {"running": 2, "desired": 7}}
    for client in everyone:
        await client.disconnect()


async def test_a_client_gets_the_current_values_on_connect_and_on_subscribe() -> None:
    await set_desired(path="/ws/A", desired=4)
    await set_running(path="/ws/A", running=1)
    client = HubCommunicator("/orchestration/")
    await client.connect()
    hello = await client.receive_event()
    assert strip_version(hello) == {"event": "orchestration.global", "data": {"running": 1, "desired": 4}}
    await client.send_event("subscribe", {"workspaceId": "/ws/A/"})
    assert (await client.receive_event())["data"] == {"workspaceId": "/ws/A"}
    current = await client.receive_event()
    assert current["data"] == {
        "workspaceId": "/ws/A",
        "workspace_id": "/ws/A",
        "running": 1,
        "desired": 4,
        "version": hello["data"]["version"],
    }
    await client.disconnect()


async def test_versions_only_grow() -> None:
    client = await connect("/ws/A")
    versions = []
    for desired in range(1, 6):
        await set_desired(path="/ws/A", desired=desired)
    for _ in range(10):
        versions.append((await client.receive_event())["data"]["version"])
    assert versions == sorted(versions)
    globals_seen = versions[::2]
    assert len(set(globals_seen)) == 5
    await client.disconnect()


async def test_unsubscribe_stops_workspace_events() -> None:
    client = await connect("/ws/A")
    await client.send_event("unsubscribe", {"workspaceId": "/ws/A"})
    assert await client.receive_event() == {"event": "unsubscribed", "data": {"workspaceId": "/ws/A"}}
    await set_desired(path="/ws/A", desired=2)
    assert (await client.receive_event())["event"] == "orchestration.global"
    assert await client.receive_nothing()
    await client.disconnect()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        ('{"event": "dance", "data": {}}', "unknown event"),
        ('{"event": "subscribe", "data": "x"}', "data:"),
        ('{"event": "subscribe", "data": {"workspaceId": "/a/../b"}}', "workspaceId: must not contain '.' or '..'"),
        ('{"event": "subscribe", "data": {"workspaceId": "@acme/\\u0000"}}', "workspaceId: must not contain control"),
        ('{"event": "subscribeProjects", "data": {"projectNumbers": [1, "2"]}}', "projectNumbers:"),
        ('{"event": "subscribe", "data": {}}', "workspaceId:"),
    ],
)
async def test_a_malformed_frame_gets_an_error_and_the_socket_stays_open(frame: str, message: str) -> None:
    client = await connect()
    await client.send_to(text_data=frame)
    error = await client.receive_event()
    assert error["event"] == "error"
    assert message in error["data"]["message"]
    await client.send_event("subscribe", {"workspaceId": "/still/open"})
    assert (await client.receive_event())["event"] == "subscribed"
    await client.disconnect()


async def test_a_binary_frame_gets_an_error() -> None:
    client = await connect()
    await client.send_to(bytes_data=b"\x00\x01")
    assert (await client.receive_event())["event"] == "error"
    await client.disconnect()


async def test_a_package_name_is_a_workspace_id_like_a_path() -> None:
    client = await connect("@acme/widgets")
    await set_desired(path="@acme/widgets", desired=2)
    assert (await client.receive_event())["event"] == "orchestration.global"
    workspace = await client.receive_event()
    assert strip_version(workspace)["data"] == {
        "workspaceId": "@acme/widgets",
        "workspace_id": "@acme/widgets",
        "running": 0,
        "desired": 2,
    }
    await client.disconnect()


async def test_subscribe_projects_answers_the_numbers_it_was_given_and_nothing_else() -> None:
    client = await connect()
    await client.send_event("subscribeProjects", {"projectNumbers": [7, 9]})
    assert await client.receive_event() == {"event": "subscribedProjects", "data": {"projectNumbers": [7, 9]}}
    assert await client.receive_nothing()
    await client.disconnect()
