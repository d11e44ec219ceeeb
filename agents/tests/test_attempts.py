"""Best of N: ``attempts`` on a launch and a DAG run, and ``discard_other_attempts`` (real agents,
real git worktrees, on both databases)."""

from __future__ import annotations

import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import DagRun, Execution, StepRun
from agents.services.attempts import discard_other_attempts
from orchestration.services import workspace_set_desired
from tests.support.agent_runs import RunnerThread, make_template, pid_gone, wait_for
from tests.support.dag_runs import EventLog, add_node, by_node, dag_run_body, dag_run_finished, start_dag_run

pytestmark = pytest.mark.django_db(transaction=True)


def git_repository(path: Path) -> Path:
    for args in (
        ["init", "-q", "-b", "main"],
        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "start"],
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True)
    return path


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def folder_gone(path: Path) -> bool:
    return not path.exists()


def worktree_forgotten(repo: Path, path: Path) -> bool:
    return str(path) not in git_out(repo, "worktree", "list")


def launch_attempts(client: APIClient, project: dict[str, Any], node: dict[str, Any], body: dict[str, Any]) -> Any:
    return client.post(f"/projects/{project['id']}/nodes/{node['id']}/launch", body, format="json")


def test_best_of_three_creates_three_executions_each_with_its_own_worktree(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], event_log: EventLog
) -> None:
    template = make_template(api_client, [("Try", "claude", "Fix {{node.title}}")])
    response = launch_attempts(api_client, project, node, {"template_id": template["id"], "attempts": 3})
    assert response.status_code == 201, response.content
    first = response.json()
    assert (first["attempt"], first["attempt_group"]) == (1, first["id"])

    listed = api_client.get(f"/projects/{project['id']}/executions", {"attempt_group": first["id"]}).json()
    attempts = sorted(listed, key=lambda e: e["attempt"])
    assert [(e["attempt"], e["attempt_group"], e["status"]) for e in attempts] == [
        (1, first["id"], "pending"),
        (2, first["id"], "pending"),
        (3, first["id"], "pending"),
    ]
    assert len({e["worktree_path"] for e in attempts}) == 3 and len({e["worktree_branch"] for e in attempts}) == 3
    for execution in attempts:  # create_worktree was not asked: attempts > 1 implies it
        assert execution["worktree_branch"] == f"agent/exec-{execution['id']}"
        detail = api_client.get(f"/projects/{project['id']}/executions/{execution['id']}").json()
        assert [s["prompt"] for s in detail["step_runs"]] == ["Fix Fix the parser"]
    created = [(e["id"], e["attempt"], e["attempt_group"]) for e in event_log.named("execution.created")]
    assert created == [(e["id"], e["attempt"], first["id"]) for e in attempts]


def test_discarding_the_other_attempts_stops_their_agents_and_removes_their_worktrees(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any], event_log: EventLog
) -> None:
    repo = git_repository(Path(project["workspace_path"]))
    workspace_set_desired(path=project["workspace_path"], desired=3)
    template = make_template(api_client, [("Work", "custom", "60")])
    first = launch_attempts(api_client, project, node, {"template_id": template["id"], "attempts": 3}).json()
    ids = list(Execution.objects.filter(attempt_group=first["id"]).order_by("attempt").values_list("pk", flat=True))
    with RunnerThread():
        wait_for(lambda: StepRun.objects.filter(execution_id__in=ids, status="running", pid__isnull=False).count() == 3)
        paths = {e.pk: Path(e.worktree_path or "") for e in Execution.objects.filter(pk__in=ids)}
        assert all(path.is_dir() for path in paths.values())
        assert all(str(path) in git_out(repo, "worktree", "list") for path in paths.values())
        pids: dict[int, int] = {
            execution_id: pid or 0
            for execution_id, pid in StepRun.objects.filter(execution_id__in=ids).values_list("execution_id", "pid")
        }

        discarded = discard_other_attempts(execution=Execution.objects.get(pk=first["id"]))

        assert discarded == ids[1:]
        for execution_id in ids[1:]:
            wait_for(partial(pid_gone, pids[execution_id]), timeout=30)
            wait_for(partial(folder_gone, paths[execution_id]), timeout=30)  # by its runner, once stopped
            # ``git worktree remove`` deletes the folder first, then its entry: wait for both.
            wait_for(partial(worktree_forgotten, repo, paths[execution_id]), timeout=30)
            assert f"agent/exec-{execution_id}" in git_out(repo, "branch", "--list")  # the branch is kept
        assert not pid_gone(pids[first["id"]]) and paths[first["id"]].is_dir()  # the chosen one goes on
        api_client.post(f"/projects/{project['id']}/executions/{first['id']}/cancel")
        wait_for(lambda: pid_gone(pids[first["id"]]), timeout=30)

    statuses = dict(Execution.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert statuses == {ids[0]: "cancelled", ids[1]: "discarded", ids[2]: "discarded"}
    assert set(StepRun.objects.filter(execution_id__in=ids[1:]).values_list("status", flat=True)) == {"skipped"}
    updated = [(e["id"], e["status"]) for e in event_log.named("execution.updated")]
    assert (ids[1], "discarded") in updated and (ids[2], "discarded") in updated
    assert discard_other_attempts(execution=Execution.objects.get(pk=first["id"])) == []  # already done


def test_discarding_finished_attempts_removes_their_worktrees_at_once(
    api_client: APIClient, fake_agent: list[str], project: dict[str, Any], node: dict[str, Any]
) -> None:
    repo = git_repository(Path(project["workspace_path"]))
    workspace_set_desired(path=project["workspace_path"], desired=2)
    template = make_template(api_client, [("Work", "custom", "0")])
    first = launch_attempts(api_client, project, node, {"template_id": template["id"], "attempts": 2}).json()
    second = Execution.objects.get(attempt_group=first["id"], attempt=2)
    with RunnerThread():
        wait_for(
            lambda: (
                set(Execution.objects.filter(attempt_group=first["id"]).values_list("status", flat=True))
                == {"completed"}
            )
        )
    assert Path(second.worktree_path or "").is_dir()

    assert discard_other_attempts(execution=Execution.objects.get(pk=first["id"])) == [second.pk]

    assert not Path(second.worktree_path or "").exists()  # no runner needed: no agent was running
    assert Path(first["worktree_path"]).is_dir()
    assert f"agent/exec-{second.pk}" in git_out(repo, "branch", "--list")
    second.refresh_from_db()
    assert (second.status, second.finished_at is not None) == ("discarded", True)


def test_an_execution_alone_has_no_other_attempts(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("Try", "claude", "x")])
    alone = launch_attempts(api_client, project, node, {"template_id": template["id"]}).json()
    assert (alone["attempt"], alone["attempt_group"], alone["worktree_path"]) == (1, None, None)
    other = launch_attempts(api_client, project, node, {"template_id": template["id"]}).json()
    assert discard_other_attempts(execution=Execution.objects.get(pk=alone["id"])) == []
    assert Execution.objects.get(pk=other["id"]).status == "pending"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "attempts: Ensure this value is greater than or equal to 1."),
        (6, "attempts: Ensure this value is less than or equal to 5."),
        ("x", "attempts: A valid integer is required."),
        (None, "attempts: This field may not be null."),
    ],
)
def test_bad_attempts_are_a_400_naming_the_field_and_nothing_is_written(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], value: Any, message: str
) -> None:
    template = make_template(api_client, [("Try", "claude", "x")])
    for response in (
        launch_attempts(api_client, project, node, {"template_id": template["id"], "attempts": value}),
        api_client.post(
            "/launch",
            {"project_id": project["id"], "node_id": node["id"], "template_id": template["id"], "attempts": value},
            format="json",
        ),
        api_client.post(
            f"/projects/{project['id']}/dag-runs",
            {"template_id": template["id"], "node_ids": [node["id"]], "attempts": value},
            format="json",
        ),
    ):
        assert (response.status_code, response.json()["detail"]) == (400, message)
    assert not Execution.objects.exists() and not DagRun.objects.exists()


def test_a_dag_run_with_attempts_runs_each_node_as_a_group_and_goes_on_when_one_completes(
    api_client: APIClient, dag_agent: list[str], project: dict[str, Any]
) -> None:
    git_repository(Path(project["workspace_path"]))
    workspace_set_desired(path=project["workspace_path"], desired=4)
    first = add_node(api_client, project, "First", "ok")
    second = add_node(api_client, project, "Second", "ok", first)
    dag_run = start_dag_run(api_client, project, attempts=2)
    assert dag_run["attempts"] == 2
    with RunnerThread():
        wait_for(dag_run_finished(dag_run["id"]), timeout=60)
    body = dag_run_body(api_client, project, dag_run["id"])
    assert body["status"] == "completed"
    nodes = by_node(body)
    for node in (first, second):
        entry = nodes[node["id"]]
        assert (entry["status"], entry["attempts"], len(entry["execution_ids"])) == ("completed", 1, 2)
        executions = list(Execution.objects.filter(pk__in=entry["execution_ids"]).order_by("attempt"))
        assert [(e.attempt, e.attempt_group, e.status) for e in executions] == [
            (1, executions[0].pk, "completed"),
            (2, executions[0].pk, "completed"),
        ]
        assert all(e.worktree_path and Path(e.worktree_path).is_dir() for e in executions)
    second_started = Execution.objects.filter(pk__in=nodes[second["id"]]["execution_ids"]).values_list(
        "started_at", flat=True
    )
    first_finished = Execution.objects.filter(pk__in=nodes[first["id"]]["execution_ids"]).values_list(
        "finished_at", flat=True
    )
    assert min(second_started) >= max(first_finished)  # a node's try ends when all its attempts have


def test_a_dag_node_whose_attempts_all_fail_is_retried_as_a_new_group(
    api_client: APIClient, dag_agent: list[str], project: dict[str, Any]
) -> None:
    git_repository(Path(project["workspace_path"]))
    workspace_set_desired(path=project["workspace_path"], desired=4)
    failing = add_node(api_client, project, "Failing", "fail")
    dag_run = start_dag_run(api_client, project, attempts=2, max_retries=1, retry_backoff_seconds=0)
    with RunnerThread():
        wait_for(dag_run_finished(dag_run["id"]), timeout=60)
    entry = by_node(dag_run_body(api_client, project, dag_run["id"]))[failing["id"]]
    assert (entry["status"], entry["attempts"], len(entry["execution_ids"])) == ("failed", 2, 4)
    groups = list(
        Execution.objects.filter(pk__in=entry["execution_ids"]).order_by("id").values_list("attempt_group", "attempt")
    )
    assert (
        groups
        == [
            (groups[0][0], 1),
            (groups[0][0], 2),
            (groups[2][0], 1),
            (groups[2][0], 2),
        ]
        and groups[0][0] != groups[2][0]
    )
