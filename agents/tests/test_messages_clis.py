"""Follow-up messages with the real CLIs (against the fake model server): the agent continues the
session the hub recorded, so the follow-up's request carries the earlier conversation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, ExecutionLogEntry, StepRun
from orchestration.models import Workspace
from tests.fake_model_server import FakeModelServer
from tests.support.agent_runs import RunnerThread, execution_finished, launch, make_template, wait_for

pytestmark = [pytest.mark.cli, pytest.mark.django_db(transaction=True)]

ANSWER = "The fake model's answer."


@pytest.mark.parametrize("agent_type", ["claude", "codex", "gemini"])
def test_a_follow_up_continues_the_same_session_with_the_earlier_conversation(
    api_client: APIClient, clis: FakeModelServer, project: dict[str, Any], node: dict[str, Any], agent_type: str
) -> None:
    template = make_template(api_client, [("Answer", agent_type, "First question about {{node.title}}")])
    execution = launch(api_client, project, node, template)
    url = f"/projects/{project['id']}/executions/{execution['id']}"
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=90)
    first = StepRun.objects.get(execution_id=execution["id"])
    assert (first.status, first.output) == ("completed", ANSWER)
    assert first.session_id, "the adapter records the CLI's session id"
    requests_before = len(clis.model_requests())

    response = api_client.post(f"{url}/messages", {"prompt": "Second question, please"}, format="json")
    assert response.status_code == 201, response.content
    follow_up = response.json()
    assert (follow_up["execution_id"], follow_up["name"], follow_up["agent_type"]) == (
        execution["id"],
        "Message 1",
        agent_type,
    )
    assert (follow_up["status"], follow_up["prompt"]) == ("pending", "Second question, please")
    assert api_client.get(url).json()["status"] == "pending"

    with RunnerThread():  # another runner than the first: everything it needs is in the database
        wait_for(execution_finished(execution["id"]), timeout=90)

    done = Execution.objects.get(pk=execution["id"])
    step = StepRun.objects.get(pk=follow_up["id"])
    assert (done.status, step.status, step.error) == ("completed", "completed", None)
    assert (step.output, step.session_id, step.exit_code) == (ANSWER, first.session_id, 0)
    assert step.input_tokens and step.output_tokens  # tokens (and cost where the CLI reports one) recorded
    assert Workspace.objects.get(path=project["workspace_path"]).running == 0

    # The follow-up's request to the model carries the earlier turn: the first prompt and its answer.
    follow_up_requests = clis.model_requests()[requests_before:]
    assert follow_up_requests
    last = follow_up_requests[-1]["body"]
    sent = json.dumps(last)
    assert "First question about Fix the parser" in sent
    assert ANSWER in sent
    assert "Second question, please" in sent
    assert sent.index("First question about Fix the parser") < sent.index("Second question, please")

    # Its output reached the same log (the terminal socket's replay) under the follow-up's step run.
    kinds = list(ExecutionLogEntry.objects.filter(execution=done, step_run_id=step.pk).values_list("kind", flat=True))
    assert kinds[0] == "step_start" and "output" in kinds and "step_complete" in kinds

    conversation = api_client.get(url).json()["conversation"]
    assert [(entry["role"], entry["text"], entry["step_run_id"]) for entry in conversation] == [
        ("user", "First question about Fix the parser", first.pk),
        ("agent", ANSWER, first.pk),
        ("user", "Second question, please", step.pk),
        ("agent", ANSWER, step.pk),
    ]
    times = [entry["at"] for entry in conversation]
    assert times == sorted(times)


def test_a_follow_up_runs_in_the_execution_s_worktree(
    api_client: APIClient, clis: FakeModelServer, project: dict[str, Any], node: dict[str, Any]
) -> None:
    repo = Path(project["workspace_path"])
    for args in (
        ["init", "-q", "-b", "main"],
        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "start"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    template = make_template(api_client, [("Answer", "claude", "First question")])
    response = api_client.post(
        f"/projects/{project['id']}/nodes/{node['id']}/launch",
        {"template_id": template["id"], "create_worktree": True},
        format="json",
    )
    execution = response.json()
    with RunnerThread():
        wait_for(execution_finished(execution["id"]), timeout=90)
        before = len(clis.model_requests())
        url = f"/projects/{project['id']}/executions/{execution['id']}/messages"
        assert api_client.post(url, {"prompt": "Second"}, format="json").status_code == 201
        wait_for(execution_finished(execution["id"]), timeout=90)
    assert Execution.objects.get(pk=execution["id"]).status == "completed"
    # Claude tells the model its working directory: the worktree, for the follow-up too.
    sent = json.dumps(clis.model_requests()[before:][-1]["body"])
    assert execution["worktree_path"] in sent and "First question" in sent
