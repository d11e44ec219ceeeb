"""The terminal socket and the log endpoint: stored output, then live, no gap and no duplicate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from agents.logs import append_entries, output_frame
from tests.support.agent_runs import launch, make_template
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


def lines(execution_id: int, texts: list[str]) -> list[int]:
    frames = [output_frame(execution_id=execution_id, step_id=None, step_run_id=0, data=t, event={}) for t in texts]
    for frame in frames:
        frame.pop("step_run_id")
    return append_entries(execution_id=execution_id, step_run_id=None, frames=frames)


@pytest.fixture
def execution(api_client: APIClient, project: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    return launch(api_client, project, node, make_template(api_client, [("A", "custom", "1")]))


def test_the_log_reads_page_by_page(api_client: APIClient, project: dict[str, Any], execution: dict[str, Any]) -> None:
    lines(execution["id"], [f"line {i}\n" for i in range(5)])
    url = f"/projects/{project['id']}/executions/{execution['id']}/log"
    first = api_client.get(url, {"limit": 3}).json()
    assert [e["data"]["data"] for e in first["entries"]] == ["line 0\n", "line 1\n", "line 2\n"]
    assert (first["next_after"], first["has_more"], first["status"]) == (3, True, "pending")
    rest = api_client.get(url, {"after": first["next_after"]}).json()
    assert [e["seq"] for e in rest["entries"]] == [4, 5]
    assert rest["has_more"] is False


def test_the_log_refuses_bad_paging_and_foreign_executions(
    api_client: APIClient, project: dict[str, Any], execution: dict[str, Any]
) -> None:
    url = f"/projects/{project['id']}/executions/{execution['id']}/log"
    response = api_client.get(url, {"after": "soon"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("after:")
    assert api_client.get(f"/projects/{project['id'] + 1}/executions/{execution['id']}/log").status_code == 404


async def test_a_client_that_connects_mid_run_gets_everything_once_in_order(
    project: dict[str, Any], execution: dict[str, Any]
) -> None:
    eid = execution["id"]
    await database_sync_to_async(lines)(eid, ["early 1\n", "early 2\n"])
    client = HubCommunicator(f"/projects/{project['id']}/executions/{eid}/terminal")
    assert (await client.connect())[0]
    assert await client.receive_json_from() == {"type": "connected", "execution_id": eid, "tmux_session": f"exec-{eid}"}
    await database_sync_to_async(lines)(eid, ["live 3\n", "live 4\n"])
    seqs, texts = [], []
    for _ in range(4):
        frame = json.loads(await client.receive_from(timeout=3))
        seqs.append(frame["seq"])
        texts.append(frame["data"])
    assert seqs == [1, 2, 3, 4]
    assert texts == ["early 1\n", "early 2\n", "live 3\n", "live 4\n"]
    extra = None if await client.receive_nothing() else await client.receive_from()
    assert extra is None
    await client.disconnect()


async def test_an_unknown_execution_is_closed_with_4004(project: dict[str, Any], execution: dict[str, Any]) -> None:
    client = HubCommunicator(f"/projects/{project['id'] + 1}/executions/{execution['id']}/terminal")
    connected, code = await client.connect()
    assert (connected, code) == (False, 4004)


async def test_a_lost_frame_is_read_back_from_the_database(project: dict[str, Any], execution: dict[str, Any]) -> None:
    eid = execution["id"]
    client = HubCommunicator(f"/projects/{project['id']}/executions/{eid}/terminal")
    assert (await client.connect())[0]
    await client.receive_json_from()  # connected
    await database_sync_to_async(lines)(eid, ["one\n"])
    assert (await client.receive_json_from())["seq"] == 1
    # Entry 2 is stored but its live frame never arrives (e.g. dropped by a full channel).
    from orchestra_site.realtime import events

    real_deliver = events.deliver
    events.deliver = lambda group, frames: None
    try:
        await database_sync_to_async(lines)(eid, ["two\n"])
    finally:
        events.deliver = real_deliver
    await database_sync_to_async(lines)(eid, ["three\n"])
    received = [await client.receive_json_from(timeout=3) for _ in range(2)]
    assert [(f["seq"], f["data"]) for f in received] == [(2, "two\n"), (3, "three\n")]
    assert await client.receive_nothing()
    await client.disconnect()
