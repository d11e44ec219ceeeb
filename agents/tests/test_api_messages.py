"""``POST /projects/{pid}/executions/{eid}/messages``: refusals, the state machine, the conversation
and its events (the runner's side through the lifecycle calls it makes; the real CLIs are in
``test_messages_clis.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Execution, StepRun
from agents.services.lifecycle import StepOutcome, step_run_claim, step_run_finish
from orchestra_site.models import HubProcess
from orchestra_site.services import hub_process_register
from tests.support.agent_runs import launch, make_template
from tests.support.dag_runs import EventLog

pytestmark = pytest.mark.django_db(transaction=True)


def url(project: dict[str, Any], execution_id: int, suffix: str = "") -> str:
    return f"/projects/{project['id']}/executions/{execution_id}{suffix}"


def run_step(step_run_id: int, **outcome: Any) -> StepRun:
    """What a runner does with a step run: claim it, then write how its agent ended."""
    runner = hub_process_register(kind=HubProcess.KIND_RUNNER)
    step_run = StepRun.objects.select_related("execution").get(pk=step_run_id)
    assert step_run_claim(step_run=step_run, runner_id=runner.pk)
    return step_run_finish(step_run_id=step_run_id, outcome=StepOutcome(**outcome), runner_id=runner.pk)


@pytest.fixture
def finished(api_client: APIClient, project: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """A launched one-step claude execution whose agent answered in session ``sess-1``."""
    template = make_template(api_client, [("Answer", "claude", "First question")])
    execution = launch(api_client, project, node, template)
    step_run_id = execution["step_runs"][0]["id"]
    run_step(step_run_id, status="completed", output="First answer", session_id="sess-1", cost_usd=0.5)
    assert Execution.objects.get(pk=execution["id"]).status == "completed"
    return execution


def send(api_client: APIClient, project: dict[str, Any], execution_id: int, body: Any) -> Any:
    return api_client.post(url(project, execution_id, "/messages"), body, format="json")


def test_a_message_queues_a_step_run_that_resumes_the_recorded_session(
    api_client: APIClient, project: dict[str, Any], finished: dict[str, Any], event_log: EventLog
) -> None:
    response = send(api_client, project, finished["id"], {"prompt": "Now fix it"})
    assert response.status_code == 201, response.content
    body = response.json()
    first = StepRun.objects.get(pk=finished["step_runs"][0]["id"])
    assert {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at")} == {
        "execution_id": finished["id"],
        "step_id": first.step_id,
        "name": "Message 1",
        "agent_type": "claude",
        "prompt": "Now fix it",
        "status": "pending",
        "output": None,
        "error": None,
        "metadata": {},
        "started_at": None,
        "finished_at": None,
    }
    follow_up = StepRun.objects.get(pk=body["id"])
    assert (follow_up.resume_session_id, follow_up.settings) == ("sess-1", first.settings)
    execution = Execution.objects.get(pk=finished["id"])
    assert (execution.status, execution.finished_at, execution.error, execution.queued) == ("pending", None, None, True)

    messages = event_log.named("execution.message")
    assert [(m["execution_id"], m["role"], m["text"], m["step_run_id"]) for m in messages] == [
        (finished["id"], "user", "Now fix it", body["id"])
    ]
    statuses = event_log.named("execution.status")
    assert statuses[-1] == {"id": finished["id"], "status": "pending", "message": "queued for the hub's runner"}

    run_step(body["id"], status="completed", output="Fixed", session_id="sess-1", cost_usd=0.25)
    execution.refresh_from_db()
    assert execution.status == "completed" and execution.finished_at is not None
    answers = event_log.named("execution.message")[1:]
    assert [(m["role"], m["text"], m["status"]) for m in answers] == [("agent", "Fixed", "completed")]
    assert StepRun.objects.get(pk=body["id"]).cost_usd == 0.25


def test_the_conversation_is_in_the_detail_in_order_and_read_back_from_the_database(
    api_client: APIClient, project: dict[str, Any], finished: dict[str, Any]
) -> None:
    first_id = finished["step_runs"][0]["id"]
    second = send(api_client, project, finished["id"], {"prompt": "Second"}).json()
    run_step(second["id"], status="completed", output="Second answer", session_id="sess-1")
    third = send(api_client, project, finished["id"], {"prompt": "Third"}).json()
    assert third["name"] == "Message 2"
    connections.close_all()  # as after a restart: nothing is kept in memory

    detail = api_client.get(url(project, finished["id"])).json()
    expected = [
        ("user", "First question", first_id, "completed"),
        ("agent", "First answer", first_id, "completed"),
        ("user", "Second", second["id"], "completed"),
        ("agent", "Second answer", second["id"], "completed"),
        ("user", "Third", third["id"], "pending"),
    ]
    assert [(e["role"], e["text"], e["step_run_id"], e["status"]) for e in detail["conversation"]] == expected
    times = [e["at"] for e in detail["conversation"]]
    assert None not in times and times == sorted(times)
    listed = api_client.get(url(project, finished["id"], "/messages")).json()
    assert listed == detail["conversation"]


def test_the_execution_ends_as_its_last_message_did(
    api_client: APIClient, project: dict[str, Any], finished: dict[str, Any]
) -> None:
    failing = send(api_client, project, finished["id"], {"prompt": "Break"}).json()
    run_step(failing["id"], status="failed", error="the agent failed (exit code 1)", session_id="sess-1")
    execution = Execution.objects.get(pk=finished["id"])
    assert (execution.status, execution.error) == ("failed", "step(s) failed: Message 1")

    mending = send(api_client, project, finished["id"], {"prompt": "Try again"})
    assert mending.status_code == 201  # a failed execution can be continued too
    run_step(mending.json()["id"], status="completed", output="Done", session_id="sess-1")
    execution.refresh_from_db()
    assert (execution.status, execution.error) == ("completed", None)


def test_a_running_execution_refuses_a_message_with_the_reason(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], event_log: EventLog
) -> None:
    template = make_template(api_client, [("Answer", "claude", "q")])
    execution = launch(api_client, project, node, template)
    response = send(api_client, project, execution["id"], {"prompt": "more"})
    assert response.status_code == 409
    assert response.json()["detail"].startswith("the execution is pending: wait until it finishes")
    runner = hub_process_register(kind=HubProcess.KIND_RUNNER)
    step_run = StepRun.objects.select_related("execution").get(pk=execution["step_runs"][0]["id"])
    assert step_run_claim(step_run=step_run, runner_id=runner.pk)
    response = send(api_client, project, execution["id"], {"prompt": "more"})
    assert (response.status_code, response.json()["detail"][:26]) == (409, "the execution is running: ")
    assert StepRun.objects.filter(execution_id=execution["id"]).count() == 1
    assert event_log.named("execution.message") == []


def test_no_recorded_session_is_a_409_that_says_why(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any], fake_agent: list[str]
) -> None:
    template = make_template(api_client, [("Answer", "custom", "0")])
    execution = launch(api_client, project, node, template)
    run_step(execution["step_runs"][0]["id"], status="completed", output="done")
    response = send(api_client, project, execution["id"], {"prompt": "more"})
    assert response.status_code == 409
    assert response.json()["detail"].startswith("no agent session to continue: none of the execution's agents")
    assert Execution.objects.get(pk=execution["id"]).status == "completed"
    assert StepRun.objects.filter(execution_id=execution["id"]).count() == 1


def test_an_execution_the_runner_does_not_run_has_no_session_to_continue(
    api_client: APIClient, project: dict[str, Any], node: dict[str, Any]
) -> None:
    template = make_template(api_client, [("Answer", "claude", "q")])
    stored = api_client.post(
        f"/projects/{project['id']}/executions", {"template_id": template["id"]}, format="json"
    ).json()
    api_client.patch(url(project, stored["id"]), {"status": "completed"}, format="json")
    response = send(api_client, project, stored["id"], {"prompt": "more"})
    assert response.status_code == 409
    assert "does not run this execution" in response.json()["detail"]


def test_a_discarded_execution_cannot_be_continued(
    api_client: APIClient, project: dict[str, Any], finished: dict[str, Any]
) -> None:
    Execution.objects.filter(pk=finished["id"]).update(status="discarded")
    response = send(api_client, project, finished["id"], {"prompt": "more"})
    assert response.status_code == 409 and "discarded" in response.json()["detail"]


def test_an_execution_whose_worktree_was_removed_cannot_be_continued(
    api_client: APIClient, project: dict[str, Any], finished: dict[str, Any]
) -> None:
    Execution.objects.filter(pk=finished["id"]).update(
        worktree_path="/nonexistent/worktrees/exec", worktree_branch="agent/exec-1", worktree_removed_at=timezone.now()
    )
    before = StepRun.objects.filter(execution_id=finished["id"]).count()
    response = send(api_client, project, finished["id"], {"prompt": "more"})
    assert response.status_code == 409, response.content
    assert "its worktree was removed" in response.json()["detail"]
    assert StepRun.objects.filter(execution_id=finished["id"]).count() == before
    assert Execution.objects.get(pk=finished["id"]).status == "completed"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt": ""},
        {"prompt": "   \n"},
        {"prompt": 5},
        {"prompt": None},
        {"prompt": ["a"]},
        {"prompt": "x" * 250_001},
    ],
)
def test_bad_input_is_a_400_naming_prompt_and_writes_nothing(
    api_client: APIClient, project: dict[str, Any], finished: dict[str, Any], body: dict[str, Any], event_log: EventLog
) -> None:
    response = send(api_client, project, finished["id"], body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("prompt")
    assert StepRun.objects.filter(execution_id=finished["id"]).count() == 1
    assert Execution.objects.get(pk=finished["id"]).status == "completed"
    assert event_log.frames == []


def test_an_unknown_execution_or_project_is_a_404(
    api_client: APIClient, project: dict[str, Any], finished: dict[str, Any]
) -> None:
    assert send(api_client, project, finished["id"] + 1000, {"prompt": "x"}).status_code == 404
    missing_project = {"id": 999_999}
    assert send(api_client, missing_project, finished["id"], {"prompt": "x"}).status_code == 404
