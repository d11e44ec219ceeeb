"""DAG runs end to end with the real runner and a tiny custom agent (``tests/dag_agent.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, StepRun
from agents.runner import recovery
from agents.services.lifecycle import dag_run_advance, step_run_claim
from orchestra_site.models import HubProcess
from orchestra_site.services import hub_process_register
from orchestration.models import Workspace
from projects.models import Node
from tests.support.agent_runs import RunnerThread, pid_gone, wait_for
from tests.support.dag_runs import (
    EventLog,
    add_node,
    by_node,
    dag_run_body,
    dag_run_finished,
    start_dag_run,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("dag_agent")]


def node_statuses(*nodes: dict[str, Any]) -> list[str]:
    return [Node.objects.get(pk=node["id"]).status for node in nodes]


def test_a_failure_blocks_its_descendants_while_an_independent_branch_completes(
    api_client: APIClient, project: dict[str, Any], event_log: EventLog
) -> None:
    breaks = add_node(api_client, project, "Breaks", "fail")
    below = add_node(api_client, project, "Below", "ok", breaks)
    further = add_node(api_client, project, "Further", "ok", below)
    free = add_node(api_client, project, "Free", "sleep 1")
    after_free = add_node(api_client, project, "After free", "ok", free)
    run = start_dag_run(api_client, project, max_retries=0)
    with RunnerThread():
        wait_for(dag_run_finished(run["id"]), timeout=60)

    body = dag_run_body(api_client, project, run["id"])
    nodes = by_node(body)
    assert body["status"] == "failed"
    assert [nodes[n["id"]]["status"] for n in (breaks, below, further, free, after_free)] == [
        "failed",
        "skipped",
        "skipped",
        "completed",
        "completed",
    ]
    assert nodes[breaks["id"]]["attempts"] == 1 and len(nodes[breaks["id"]]["execution_ids"]) == 1
    assert nodes[breaks["id"]]["error"].startswith("step(s) failed")
    assert nodes[below["id"]]["error"] == f"skipped: parent node {breaks['id']} failed"
    assert nodes[further["id"]]["execution_ids"] == []
    assert node_statuses(breaks, below, further, free, after_free) == [
        "failed",
        "blocked",
        "blocked",
        "completed",
        "completed",
    ]
    # The run ended only when the independent branch was done.
    last_step = StepRun.objects.get(execution_id=nodes[after_free["id"]]["execution_ids"][0])
    assert body["finished_at"] >= last_step.finished_at.isoformat().replace("+00:00", "Z")
    updates = event_log.named("dag_run.updated")
    assert updates[-1] == body
    assert event_log.named("dag_run.created")[0]["status"] == "pending"


def test_a_child_starts_after_its_parents_and_gets_their_results(
    api_client: APIClient, project: dict[str, Any]
) -> None:
    left = add_node(api_client, project, "Left", "ok")
    right = add_node(api_client, project, "Right", "sleep 0.5")
    join = add_node(api_client, project, "Join", "ok", left, right)
    run = start_dag_run(api_client, project)
    with RunnerThread():
        wait_for(dag_run_finished(run["id"]), timeout=60)

    nodes = by_node(dag_run_body(api_client, project, run["id"]))
    assert {entry["status"] for entry in nodes.values()} == {"completed"}
    join_step = StepRun.objects.get(execution_id=nodes[join["id"]]["execution_ids"][0])
    parent_steps = StepRun.objects.filter(execution_id__in=[nodes[n["id"]]["execution_ids"][0] for n in (left, right)])
    assert join_step.started_at >= max(step.finished_at for step in parent_steps)
    assert f"## Left (node {left['id']})\ndone: ok (parents: 0)" in join_step.prompt
    assert f"## Right (node {right['id']})\ndone: sleep 0.5 (parents: 0)" in join_step.prompt
    assert join_step.output == "done: ok (parents: 2)"


def test_a_failed_attempt_is_retried_after_its_backoff(
    api_client: APIClient, project: dict[str, Any], tmp_path: Any
) -> None:
    flaky = add_node(api_client, project, "Flaky", f"fail-once {tmp_path / 'failed-once'}")
    run = start_dag_run(api_client, project, max_retries=2, retry_backoff_seconds=1)
    with RunnerThread():
        wait_for(dag_run_finished(run["id"]), timeout=60)

    body = dag_run_body(api_client, project, run["id"])
    entry = by_node(body)[flaky["id"]]
    assert (body["status"], entry["status"], entry["attempts"]) == ("completed", "completed", 2)
    first, second = (Execution.objects.get(pk=pk) for pk in entry["execution_ids"])
    assert (first.status, second.status) == ("failed", "completed")
    assert (second.created_at - first.finished_at).total_seconds() >= 1  # 1 s * 2^0


def test_cancel_stops_the_running_agents_and_the_rest_of_the_run(
    api_client: APIClient, project: dict[str, Any]
) -> None:
    slow = add_node(api_client, project, "Slow", "sleep 60")
    after = add_node(api_client, project, "After", "ok", slow)
    run = start_dag_run(api_client, project)
    with RunnerThread():
        step = wait_for(lambda: StepRun.objects.filter(execution__node_id=slow["id"], pid__isnull=False).first())
        assert Node.objects.get(pk=slow["id"]).status == "in_progress"
        response = api_client.post(f"/projects/{project['id']}/dag-runs/{run['id']}/cancel")
        assert response.status_code == 200
        wait_for(lambda: pid_gone(step.pid), timeout=30)
        wait_for(lambda: Workspace.objects.get(path=project["workspace_path"]).running == 0, timeout=30)
    body = response.json()
    assert body["status"] == "cancelled" and body["finished_at"]
    assert [by_node(body)[n["id"]]["status"] for n in (slow, after)] == ["cancelled", "cancelled"]
    assert Execution.objects.get(pk=step.execution_id).status == "cancelled"
    assert node_statuses(slow, after) == ["pending", "pending"]
    again = api_client.post(f"/projects/{project['id']}/dag-runs/{run['id']}/cancel")
    assert (again.status_code, again.json()) == (
        400,
        {"detail": "DAG run already finished", "message": "DAG run already finished"},
    )


def test_a_hub_restart_mid_run_resumes_it_without_using_an_attempt(
    api_client: APIClient, project: dict[str, Any]
) -> None:
    slow = add_node(api_client, project, "Slow", "sleep 30")
    after = add_node(api_client, project, "After", "ok", slow)
    run = start_dag_run(api_client, project, max_retries=0)
    with RunnerThread():
        wait_for(lambda: StepRun.objects.filter(execution__node_id=slow["id"], pid__isnull=False).first())
    # The runner stopped while the agent ran: the run goes on when a runner comes back.
    interrupted = StepRun.objects.get(execution__node_id=slow["id"])
    assert (interrupted.status, interrupted.crashed) == ("failed", True)
    Node.objects.filter(pk=slow["id"]).update(prompt="ok")  # the retry need not take 30 s
    with RunnerThread():
        wait_for(dag_run_finished(run["id"]), timeout=60)

    body = dag_run_body(api_client, project, run["id"])
    entry = by_node(body)[slow["id"]]
    assert body["status"] == "completed"
    assert (entry["status"], entry["attempts"], len(entry["execution_ids"])) == ("completed", 1, 2)
    assert by_node(body)[after["id"]]["status"] == "completed"


def test_a_crashed_runner_does_not_use_up_an_attempt(api_client: APIClient, project: dict[str, Any]) -> None:
    only = add_node(api_client, project, "Only", "ok")
    run = start_dag_run(api_client, project, max_retries=0)
    assert dag_run_advance(dag_run_id=run["id"]) == 1
    step = StepRun.objects.select_related("execution").get(execution__node_id=only["id"])
    runner = hub_process_register(kind=HubProcess.KIND_RUNNER)
    assert step_run_claim(step_run=step, runner_id=runner.pk)
    recovery.recover_after_hub_restart()  # the whole hub went down while the agent ran
    assert dag_run_advance(dag_run_id=run["id"]) == 1  # started again at once, no backoff

    entry = by_node(dag_run_body(api_client, project, run["id"]))[only["id"]]
    assert (entry["status"], entry["attempts"], len(entry["execution_ids"])) == ("queued", 1, 2)
    assert entry["error"] == "the runner stopped while the agent ran; retried without using an attempt"
    assert Execution.objects.get(pk=entry["execution_ids"][0]).status == "failed"
