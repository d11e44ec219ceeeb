"""DAG runs of the real claude CLI against the fake model server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, StepRun
from orchestration.services import workspace_set_desired
from projects.models import Node
from tests.fake_model_server import FakeModelServer
from tests.support.agent_runs import RunnerThread, point_clis_at, wait_for
from tests.support.dag_runs import EventLog, add_node, by_node, dag_run_body, dag_run_finished, start_dag_run

pytestmark = [pytest.mark.cli, pytest.mark.django_db(transaction=True)]
ANSWER = "The fake model's answer."


def test_a_diamond_runs_in_order_two_at_a_time_and_each_child_reads_its_parents(
    api_client: APIClient, clis: FakeModelServer, project: dict[str, Any], event_log: EventLog
) -> None:
    workspace_set_desired(path=project["workspace_path"], desired=2)
    top = add_node(api_client, project, "Top", "Plan the work", agent="claude")
    middle = [add_node(api_client, project, f"Part {i}", f"Do part {i}", top, agent="claude") for i in (1, 2, 3)]
    bottom = add_node(api_client, project, "Bottom", "Put the parts together", *middle, agent="claude")
    run = start_dag_run(api_client, project)
    with RunnerThread():
        wait_for(dag_run_finished(run["id"]), timeout=120)

    body = dag_run_body(api_client, project, run["id"])
    nodes = by_node(body)
    everyone = [top, *middle, bottom]
    assert body["status"] == "completed" and body["started_at"] and body["finished_at"]
    assert [(nodes[n["id"]]["status"], nodes[n["id"]]["attempts"]) for n in everyone] == [("completed", 1)] * 5
    assert {Node.objects.get(pk=n["id"]).status for n in everyone} == {"completed"}
    step = {n["id"]: StepRun.objects.get(execution_id=nodes[n["id"]]["execution_ids"][0]) for n in everyone}

    # Order: a node starts only after each of its parents finished.
    for child in middle:
        assert step[child["id"]].started_at >= step[top["id"]].finished_at
    assert step[bottom["id"]].started_at >= max(step[n["id"]].finished_at for n in middle)
    # Never more than desired = 2 at once: in every workspace event, and in the steps' own times...
    running = [
        e["running"]
        for e in event_log.named("orchestration.workspace")
        if e["workspaceId"] == project["workspace_path"]
    ]
    assert running and max(running) == 2
    spans = [(s.started_at, s.finished_at) for s in step.values()]
    for (a_start, a_end), (b_start, b_end), (c_start, c_end) in itertools.combinations(spans, 3):
        assert not (max(a_start, b_start, c_start) < min(a_end, b_end, c_end)), "three agents ran at once"

    # Each child's prompt, as the model received it, carries its parents' final output.
    texts = clis.user_texts()
    for child in middle:
        assert any(
            t.startswith(f"Do part {child['title'][-1]}") and f"## Top (node {top['id']})\n{ANSWER}" in t for t in texts
        )
    final = next(t for t in texts if t.startswith("Put the parts together"))
    assert all(f"## {n['title']} (node {n['id']})\n{ANSWER}" in final for n in middle)

    # Events: the run, each node's status moves, each execution.
    updates = event_log.named("dag_run.updated")
    assert event_log.named("dag_run.created")[0]["id"] == run["id"]
    assert updates[-1] == body
    assert [u["status"] for u in updates][-1] == "completed" and "running" in [u["status"] for u in updates]
    for n in everyone:
        moves = [e["status"] for e in event_log.named("node.updated") if e["id"] == n["id"]]
        assert moves == ["in_progress", "completed"], (n["title"], moves)
    created = {e["id"] for e in event_log.named("execution.created")}
    assert created == {nodes[n["id"]]["execution_ids"][0] for n in everyone}


@pytest.fixture
def flaky_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any) -> Iterator[FakeModelServer]:
    with FakeModelServer(text=ANSWER, fail_first=1) as server:
        point_clis_at(server, monkeypatch, tmp_path / "home", settings)
        yield server


def test_a_model_error_is_retried_after_the_backoff_and_then_completes(
    api_client: APIClient, flaky_model: FakeModelServer, project: dict[str, Any]
) -> None:
    only = add_node(api_client, project, "Only", "Try this", agent="claude")
    run = start_dag_run(api_client, project, max_retries=1, retry_backoff_seconds=1)
    with RunnerThread():
        wait_for(dag_run_finished(run["id"]), timeout=120)

    body = dag_run_body(api_client, project, run["id"])
    entry = by_node(body)[only["id"]]
    assert (body["status"], entry["status"], entry["attempts"], entry["error"]) == ("completed", "completed", 2, None)
    first, second = (Execution.objects.get(pk=pk) for pk in entry["execution_ids"])
    assert first.status == "failed" and "planned failure" in (first.step_runs.get().error or "")
    assert second.status == "completed" and second.step_runs.get().output == ANSWER
    assert (second.created_at - first.finished_at).total_seconds() >= 1
