"""The shared log flusher: every running step's output in one write per interval, in order, with
nothing lost when the database blinks and nothing of the others lost when one execution is refused."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection
from rest_framework.test import APIClient

from agents import log_flusher
from agents.deltas import DeltaSender, delta_frame
from agents.logs import LogWriter, output_frame
from agents.models import ExecutionLogEntry
from tests.support.agent_runs import launch, make_template, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
WRITERS = 20


@pytest.fixture
def flusher(monkeypatch: pytest.MonkeyPatch) -> log_flusher.SharedLogFlusher:
    """A flusher of the test's own (its interval long enough to gather every writer's frames)."""
    mine = log_flusher.SharedLogFlusher(every=0.3)
    monkeypatch.setattr(log_flusher, "shared", mine)
    return mine


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many writers each shared write carried."""
    carried: list[int] = []
    real = log_flusher.write_together

    def counted(taken: list[tuple[LogWriter, list[dict[str, Any]]]]) -> None:
        carried.append(len(taken))
        real(taken)

    monkeypatch.setattr(log_flusher, "write_together", counted)
    return carried


def executions(api_client: APIClient, project: dict[str, Any], node: dict[str, Any], count: int) -> list[int]:
    template = make_template(api_client, [("A", "custom", "1")])
    return [launch(api_client, project, node, template)["id"] for _ in range(count)]


def line(execution_id: int, text: str) -> dict[str, Any]:
    return output_frame(execution_id=execution_id, step_id=None, step_run_id=0, data=text, event={})


def printed(execution_id: int) -> list[str]:
    entries = ExecutionLogEntry.objects.filter(execution_id=execution_id, kind="output").order_by("seq")
    return [entry.data["data"] for entry in entries]


def stored(execution_id: int, expected: list[str]) -> Callable[[], bool]:
    return lambda: printed(execution_id) == expected


def test_every_steps_output_lands_in_one_write_per_interval_each_in_order(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], flusher: Any, writes: list[int]
) -> None:
    ids = executions(api_client, project, node, WRITERS)
    writers = [LogWriter(execution_id=eid, step_run_id=None) for eid in ids]
    for i in range(5):
        for writer in writers:
            writer.add(line(writer.execution_id, f"line {i}\n"))
    for eid in ids:
        wait_for(stored(eid, [f"line {i}\n" for i in range(5)]), timeout=10)
    assert writes == [WRITERS]  # 20 steps' output: one transaction, not 20


def test_a_steps_own_flush_waits_for_the_shared_write_in_flight_and_keeps_the_order(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], flusher: Any, monkeypatch: Any
) -> None:
    (eid,) = executions(api_client, project, node, 1)
    writing, go_on = threading.Event(), threading.Event()
    real = log_flusher.write_together

    def slow(taken: list[tuple[LogWriter, list[dict[str, Any]]]]) -> None:
        writing.set()
        go_on.wait(10)
        real(taken)

    monkeypatch.setattr(log_flusher, "write_together", slow)
    writer = LogWriter(execution_id=eid, step_run_id=None)
    writer.add(line(eid, "first\n"))
    assert writing.wait(10)  # the flusher took "first" and is writing it
    writer.add(line(eid, "second\n"))

    def last_flush() -> None:  # the step's last flush, as when its agent ends
        try:
            writer.flush()
        finally:
            connection.close()  # as a worker does when it ends: the pooled connection goes back

    step = threading.Thread(target=last_flush)
    step.start()
    step.join(0.3)
    assert step.is_alive()  # it waits for the write in flight rather than overtake it
    go_on.set()
    step.join(10)
    assert printed(eid) == ["first\n", "second\n"]


def test_a_database_blink_loses_no_output(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], flusher: Any, monkeypatch: Any
) -> None:
    ids = executions(api_client, project, node, 2)
    real, refusals = log_flusher.write_together, list[int]()

    def blinking(taken: list[tuple[LogWriter, list[dict[str, Any]]]]) -> None:
        if not refusals:
            refusals.append(1)
            raise OperationalError("database is locked")
        real(taken)

    monkeypatch.setattr(log_flusher, "write_together", blinking)
    writers = [LogWriter(execution_id=eid, step_run_id=None) for eid in ids]
    for writer in writers:
        writer.add(line(writer.execution_id, "before\n"))
    wait_for(lambda: refusals, timeout=10)
    for writer in writers:
        writer.add(line(writer.execution_id, "after\n"))
    for eid in ids:
        wait_for(stored(eid, ["before\n", "after\n"]), timeout=10)


def test_an_execution_the_database_refuses_costs_only_its_own_output(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], flusher: Any
) -> None:
    (eid,) = executions(api_client, project, node, 1)
    good = LogWriter(execution_id=eid, step_run_id=None)
    gone = LogWriter(execution_id=eid + 1000, step_run_id=None)  # no such execution: its rows are refused
    gone.add(line(gone.execution_id, "lost\n"))
    good.add(line(eid, "kept\n"))
    wait_for(lambda: printed(eid) == ["kept\n"], timeout=10)
    wait_for(lambda: gone.refused is not None, timeout=10)
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        gone.add(line(gone.execution_id, "more\n"))  # the step learns it, as its own write would have raised


def test_a_delta_waits_for_the_shared_write_in_flight_and_names_its_last_stored_seq(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], flusher: Any, monkeypatch: Any
) -> None:
    """A delta goes out after the frames before it (even those the shared flusher is writing) and
    says the seq they were stored with: a socket's replay can tell it from a stale one."""
    (eid,) = executions(api_client, project, node, 1)
    writing, go_on = threading.Event(), threading.Event()
    real = log_flusher.write_together

    def slow(taken: list[tuple[LogWriter, list[dict[str, Any]]]]) -> None:
        writing.set()
        go_on.wait(10)
        real(taken)

    monkeypatch.setattr(log_flusher, "write_together", slow)
    writer = LogWriter(execution_id=eid, step_run_id=None)
    writer.add(line(eid, "before the message\n"))
    assert writing.wait(10)  # the flusher took the frame: the writer's buffer is empty meanwhile
    deltas = DeltaSender(writer)
    added = threading.Thread(
        target=lambda: deltas.add(delta_frame(execution_id=eid, step_id=None, step_run_id=0, text="He"))
    )
    added.start()
    added.join(0.3)
    assert added.is_alive()  # it waits for the write in flight rather than overtake it
    go_on.set()
    added.join(10)
    last = ExecutionLogEntry.objects.filter(execution_id=eid).order_by("-seq").values_list("seq", flat=True).first()
    assert printed(eid) == ["before the message\n"]
    assert [frame["after"] for frame in deltas.pending] == [last] and writer.last_seq == last
