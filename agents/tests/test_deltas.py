"""Delta frames on the terminal socket, without a CLI: after what the writer held, live only, in order."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from agents.consumers import TerminalConsumer
from agents.deltas import DeltaSender, delta_frame
from agents.logs import LogWriter, output_frame
from agents.models import ExecutionLogEntry, StepRun
from tests.support.agent_runs import launch, make_template
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def execution(api_client: APIClient, project: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    return launch(api_client, project, node, make_template(api_client, [("A", "custom", "1")]))


def step_run_of(execution_id: int) -> int:
    return StepRun.objects.get(execution_id=execution_id).pk


def write_a_streamed_message(execution_id: int) -> None:
    step_run = step_run_of(execution_id)
    writer = LogWriter(execution_id=execution_id, step_run_id=step_run)
    writer.add(output_frame(execution_id=execution_id, step_id=None, step_run_id=step_run, data="before\n", event={}))
    deltas = DeltaSender(writer)
    for piece in ("Hel", "lo ", "there"):
        deltas.add(delta_frame(execution_id=execution_id, step_id=None, step_run_id=step_run, text=piece))
    assert writer.pending == []  # the frame before the message was written before its first delta
    deltas.send()
    whole = output_frame(
        execution_id=execution_id, step_id=None, step_run_id=step_run, data="Hello there\n", event={"kind": "text"}
    )
    writer.add(whole)
    writer.flush()


async def test_deltas_come_between_the_frames_around_them_and_are_not_stored(
    project: dict[str, Any], execution: dict[str, Any]
) -> None:
    eid = execution["id"]
    client = HubCommunicator(f"/projects/{project['id']}/executions/{eid}/terminal")
    assert (await client.connect())[0]
    assert (await client.receive_json_from())["type"] == "connected"
    assert await client.receive_nothing(timeout=0.3)  # the socket's replay (of nothing) is over
    await database_sync_to_async(write_a_streamed_message)(eid)
    frames = [await client.receive_json_from(timeout=3) for _ in range(5)]
    assert [(f["type"], f["data"], f.get("seq")) for f in frames] == [
        ("output", "before\n", 1),
        ("delta", "Hel", None),
        ("delta", "lo ", None),
        ("delta", "there", None),
        ("output", "Hello there\n", 2),
    ]
    assert await client.receive_nothing()
    await client.disconnect()
    kinds = await database_sync_to_async(
        lambda: list(ExecutionLogEntry.objects.filter(execution_id=eid).values_list("kind", flat=True))
    )()
    assert kinds == ["output", "output"]


def test_a_batch_without_deltas_sends_nothing(execution: dict[str, Any]) -> None:
    writer = LogWriter(execution_id=execution["id"], step_run_id=None)
    DeltaSender(writer).send()
    assert not ExecutionLogEntry.objects.filter(execution_id=execution["id"]).exists()


def test_a_delta_held_through_a_replay_that_sent_its_whole_message_is_dropped() -> None:
    consumer = TerminalConsumer()
    consumer.replayed_by_step = {}
    fresh = json.dumps({"type": "delta", "step_run_id": 4, "after": 3, "data": "x"})
    assert not consumer.stale_delta(fresh)
    consumer.replayed_by_step = {4: 3, 5: 9}  # a replay sent step 4 up to seq 3: the delta follows
    assert not consumer.stale_delta(fresh)
    consumer.replayed_by_step = {4: 4}  # it sent seq 4 of step 4: the whole message the delta was part of
    assert consumer.stale_delta(fresh)
