"""The pipeline's endpoints and its phase machine with instant agents (step runs claimed and
finished by hand, as a runner would): every status, event and error the desktop app relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.models import Execution, StepRun
from agents.services.pipelines import pipeline_advance
from agents.tests.test_api_executions import NO_LANDING
from orchestration.services import workspace_set_desired
from projects.models import Deliverable, Node
from tests.support.dag_runs import EventLog
from tests.support.pipelines import (
    CRITIC_MAJOR,
    CRITIC_NO,
    CRITIC_YES,
    IMPLEMENTATION,
    RESEARCH,
    answer_phase,
    context_of,
    git_init,
    launch_pipeline,
    pending_steps,
    run_to_review,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def task(api_client: APIClient, project: dict[str, Any]) -> dict[str, Any]:
    workspace_set_desired(path=project["workspace_path"], desired=3)  # three instant agents at once
    body = {"title": "Write the parser", "description": "Parse the config file", "prompt": "Keep it small"}
    response = api_client.post(f"/projects/{project['id']}/nodes", body, format="json")
    assert response.status_code == 201
    return response.json()


def url(project: dict[str, Any], node: dict[str, Any] | int, tail: str) -> str:
    nid = node if isinstance(node, int) else node["id"]
    return f"/projects/{project['id']}/nodes/{nid}/{tail}"


def node_status(node: dict[str, Any]) -> str:
    return Node.objects.get(pk=node["id"]).status


def approve(client: APIClient, project: dict[str, Any], node: dict[str, Any], **body: Any) -> Any:
    return client.post(url(project, node, "feedback"), {"approved": True, **body}, format="json")


# --- Launch -------------------------------------------------------------------------------------


def test_launch_answers_the_real_execution_and_queues_research(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any], event_log: EventLog
) -> None:
    response = api_client.post(url(project, task, "launch-pipeline"))  # no body at all: {}
    assert response.status_code == 201, response.content
    body = response.json()
    execution = Execution.objects.get(pk=body["execution_id"])
    assert body == {
        "execution_id": execution.pk,
        "node_id": task["id"],
        "status": "started",
        "message": "Multi-agent pipeline 'Research-Driven Multi-Agent Pipeline' started for node 'Write the parser'",
    }
    assert (execution.status, execution.template_id, execution.node_id) == ("running", None, task["id"])
    assert execution.started_at is not None and execution.finished_at is None
    context = execution.metadata["pipeline_context"]
    assert execution.metadata["pipeline_name"] == "Research-Driven Multi-Agent Pipeline"
    for key in ("research", "ideation", "synthesis", "human_input", "toy_tests", "implementation", "critic_feedback"):
        assert context[key] is None
    assert (context["node_id"], context["node_title"], context["parent_summaries"]) == (
        task["id"],
        "Write the parser",
        "No dependencies",
    )
    assert node_status(task) == "in_progress"
    updated = event_log.named("node.updated")
    assert updated[-1]["status"] == "in_progress" and updated[-1]["title"] == "Write the parser"
    assert "parent_ids" in updated[-1] and "metadata" in updated[-1]  # the full node, never {id, status}
    assert event_log.named("execution.created")[-1]["id"] == execution.pk
    assert event_log.named("execution.updated")[-1] == {
        "id": execution.pk,
        "node_id": task["id"],
        "status": "running",
        "attempt": 1,
        "attempt_group": None,
        **NO_LANDING,
    }

    pipeline_advance(execution_id=execution.pk)  # the runner's cycle creates the research step
    (research,) = pending_steps(execution.pk)
    assert research.agent_type == "gemini" and research.metadata["pipeline_phase"] == "research"
    assert "## Task: Write the parser" in research.prompt and "Parse the config file" in research.prompt
    assert "Keep it small" in research.prompt and "{{" not in research.prompt
    assert context_of(execution.pk)["current_phase"] == "research"


def test_launch_errors_in_order_and_a_second_launch_is_refused(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    assert (
        api_client.post(f"/projects/999999/nodes/{task['id']}/launch-pipeline").json()["detail"] == "Project not found"
    )
    missing = api_client.post(url(project, 999999, "launch-pipeline"))
    assert (missing.status_code, missing.json()["detail"]) == (404, "Node not found")
    other = api_client.post("/projects", {"name": "Other"}, format="json").json()
    foreign = api_client.post(url(other, task, "launch-pipeline"))
    assert (foreign.status_code, foreign.json()["detail"]) == (404, "Node not found")
    bad = api_client.post(url(project, task, "launch-pipeline"), {"use_default_pipeline": "yes"}, format="json")
    assert bad.status_code == 400 and "use_default_pipeline" in bad.json()["detail"]
    custom = api_client.post(url(project, task, "launch-pipeline"), {"custom_pipeline_id": 3}, format="json")
    assert custom.status_code == 400 and "custom_pipeline_id" in custom.json()["detail"]
    assert not Execution.objects.exists()

    launch_pipeline(api_client, project, task, use_default_pipeline=True)
    again = api_client.post(url(project, task, "launch-pipeline"), {}, format="json")
    assert (again.status_code, again.json()["detail"]) == (400, "Pipeline already active for this node")
    assert Execution.objects.count() == 1


def test_a_node_set_to_in_progress_by_hand_cannot_be_launched(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    api_client.patch(f"/projects/{project['id']}/nodes/{task['id']}", {"status": "in_progress"}, format="json")
    response = api_client.post(url(project, task, "launch-pipeline"), {}, format="json")
    assert (response.status_code, response.json()["detail"]) == (400, "Pipeline already active for this node")


# --- The whole run ------------------------------------------------------------------------------


def test_the_happy_path_phases_gate_diff_retry_and_completion(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any], event_log: EventLog
) -> None:
    workspace = Path(project["workspace_path"])
    git_init(workspace)
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]

    research = answer_phase(execution_id, RESEARCH)
    context = context_of(execution_id)
    assert context["research"]["search_queries"] == ["how to parse a config file", "config parser pitfalls"]
    assert context["research"]["sources"][0] == {
        "title": "Parsing guide",
        "url": "https://example.com/parsing",
        "insights": ["Use a real parser", "Validate early"],
    }
    assert context["research"]["summary"] == "Parsing is best done with a library."
    (sources,) = Deliverable.objects.filter(node_id=task["id"])
    assert (sources.name, sources.type, sources.status, sources.content) == (
        "sources.md",
        "sources",
        "completed",
        RESEARCH,
    )
    assert sources.execution_id == execution_id
    created = event_log.named("deliverable.created")[-1]
    assert created == {
        "node_id": task["id"],
        "execution_id": execution_id,
        "deliverable_id": sources.pk,
        "type": "sources",
        "name": "sources.md",
    }

    ideation = answer_phase(execution_id, lambda step: f"{step.agent_type}'s plan")
    assert sorted(step.agent_type for step in ideation) == ["claude", "codex", "gemini"]
    assert all("Parsing is best done with a library." in step.prompt for step in ideation)
    assert all(step.started_at >= research[0].finished_at for step in ideation)
    assert context_of(execution_id)["ideation"] == {
        "claude": "claude's plan",
        "codex": "codex's plan",
        "gemini": "gemini's plan",
    }

    (synthesis,) = answer_phase(execution_id, __import__("tests.support.pipelines", fromlist=["x"]).SYNTHESIS)
    assert "claude's plan" in synthesis.prompt and "gemini's plan" in synthesis.prompt
    plan = Deliverable.objects.get(node_id=task["id"], name="plan.md")
    assert (plan.type, plan.status, plan.content) == (
        "plan",
        "completed",
        "### Step 1\nWrite `parser.txt`.\n### Step 2\nTest it.",
    )
    assert event_log.named("deliverable.created")[-1]["deliverable_id"] == plan.pk
    listed = api_client.get(url(project, task, "deliverables")).json()  # what the desktop reads, newest first
    assert [(d["name"], d["status"], d["execution_id"]) for d in listed] == [
        ("plan.md", "completed", execution_id),
        ("sources.md", "completed", execution_id),
    ]
    # The gate: nothing pending, the node waits, the phase is synthesis; the runner does not move it.
    assert node_status(task) == "needs_review"
    assert not pending_steps(execution_id)
    assert not pipeline_advance(execution_id=execution_id)
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "running" and execution.metadata["pipeline_context"]["current_phase"] == "synthesis"
    assert event_log.named("node.updated")[-1]["status"] == "needs_review"

    questions = api_client.get(url(project, task, "synthesis")).json()
    assert questions == {
        "node_id": task["id"],
        "node_title": "Write the parser",
        "execution_id": execution_id,
        "status": "needs_review",
        "agreements": ["Use a library", "Add tests"],
        "conflicts": ["Claude wants TOML, Codex wants YAML"],
        "questions": ["Which format should win?", "Must comments survive?"],
        "final_plan": "### Step 1\nWrite `parser.txt`.\n### Step 2\nTest it.",
    }
    listed = api_client.get(f"/projects/{project['id']}/nodes/needs-review")
    assert listed.status_code == 200 and listed.json() == [questions]

    bad = approve(api_client, project, task, answers={"0": "TOML", "7": "?"})
    assert (bad.status_code, bad.json()["detail"]) == (400, "answers.7: no such question (question indices are 0 to 1)")
    assert node_status(task) == "needs_review" and context_of(execution_id)["human_input"] is None

    response = approve(api_client, project, task, answers={"0": "TOML", "1": ""}, notes="Keep comments")
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Feedback submitted, resuming execution",
        "node_id": task["id"],
        "execution_id": execution_id,
    }
    assert node_status(task) == "in_progress"
    assert event_log.named("feedback.submitted")[-1] == {
        "node_id": task["id"],
        "execution_id": execution_id,
        "approved": True,
    }

    def implement_writes(text: str) -> Any:
        return lambda: (workspace / "parser.txt").write_text(text)

    (first,) = answer_phase(execution_id, IMPLEMENTATION, before_finish=implement_writes("parse()\n"))
    assert first.agent_type == "codex" and first.name == "Implement #1 · codex"
    assert "Q1. Which format should win?\nA: TOML" in first.prompt
    assert "Q2. Must comments survive?\nA: (no answer)" in first.prompt and "Notes: Keep comments" in first.prompt
    assert "Write `parser.txt`." in first.prompt

    echo = "VOTE: YES or NO\nSEVERITY: minor"  # a critic that only echoes the format
    other_no = "VOTE: NO\nREASONING: unnamed\nFEEDBACK: name the parser"
    critics = answer_phase(execution_id, {"claude": CRITIC_NO, "codex": echo, "gemini": other_no})
    for critic in critics:
        assert "+++ b/parser.txt" in critic.prompt and "+parse()" in critic.prompt
        assert "I wrote parser.txt." in critic.prompt
    context = context_of(execution_id)
    votes = [(r["agent_type"], r["vote"]) for r in context["critic_results"]]
    assert votes == [("claude", "NO"), ("codex", None), ("gemini", "NO")]  # the echoed line is no vote
    assert context["retry_count"] == 1
    assert context["critic_feedback"] == (
        "Critic 1 (claude): add a header line to parser.txt\n\nCritic 3 (gemini): name the parser"
    )
    assert context["critic_results"][2]["severity"] == "minor"  # a NO without severity counts as minor

    (second,) = answer_phase(execution_id, IMPLEMENTATION, before_finish=implement_writes("# header\nparse()\n"))
    assert (
        second.name == "Implement #2 · codex" and "Critic 1 (claude): add a header line to parser.txt" in second.prompt
    )
    critics = answer_phase(execution_id, {"claude": CRITIC_YES, "codex": CRITIC_YES, "gemini": CRITIC_NO})
    assert "+# header" in critics[0].prompt and "-parse()" not in critics[0].prompt

    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "completed" and execution.finished_at is not None and execution.error is None
    assert node_status(task) == "completed"
    assert event_log.named("node.updated")[-1]["status"] == "completed"
    last_update = event_log.named("execution.updated")[-1]
    assert (last_update["id"], last_update["node_id"], last_update["status"]) == (execution_id, task["id"], "completed")
    assert len(execution.metadata["pipeline_context"]["critic_results"]) == 6
    assert StepRun.objects.filter(execution_id=execution_id).count() == 1 + 3 + 1 + 2 * (1 + 3)


def test_reject_cancels_the_execution_and_blocks_the_node(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any], event_log: EventLog
) -> None:
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    run_to_review(execution_id)
    response = api_client.post(url(project, task, "feedback"), {"answers": {}, "approved": False}, format="json")
    assert response.status_code == 200 and response.json()["message"] == "Plan rejected, execution paused"
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "cancelled" and execution.finished_at is not None
    assert execution.metadata["pipeline_context"]["human_input"] == {"answers": {}, "notes": None, "approved": False}
    assert node_status(task) == "blocked"
    assert event_log.named("feedback.submitted")[-1]["approved"] is False
    assert event_log.named("node.updated")[-1]["status"] == "blocked"
    assert not pipeline_advance(execution_id=execution_id)
    reopened = api_client.post(
        f"/projects/{project['id']}/executions/{execution_id}/messages", {"prompt": "go on"}, format="json"
    )
    assert reopened.status_code == 409 and "review" in reopened.json()["detail"]  # a rejected run stays cancelled
    assert Execution.objects.get(pk=execution_id).status == "cancelled"
    # Run is enabled again: a new launch starts over.
    assert launch_pipeline(api_client, project, task)["execution_id"] != execution_id


def test_feedback_errors_name_the_reason_and_write_nothing(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    missing = api_client.post(url(project, 999999, "feedback"), {}, format="json")
    assert (missing.status_code, missing.json()["detail"]) == (404, "Node not found")
    pending = api_client.post(url(project, task, "feedback"), {}, format="json")
    assert (pending.status_code, pending.json()["detail"]) == (400, "Node is not awaiting review (status: pending)")
    api_client.patch(f"/projects/{project['id']}/nodes/{task['id']}", {"status": "needs_review"}, format="json")
    none = api_client.post(url(project, task, "feedback"), {}, format="json")
    assert (none.status_code, none.json()["detail"]) == (404, "No execution found for this node")

    execution_id = launch_pipeline_by_hand_status(api_client, project, task)
    answer_phase(execution_id, RESEARCH)  # research only: no synthesis yet
    api_client.patch(f"/projects/{project['id']}/nodes/{task['id']}", {"status": "needs_review"}, format="json")
    early = api_client.post(url(project, task, "feedback"), {"approved": True}, format="json")
    assert (early.status_code, early.json()["detail"]) == (400, "No pipeline is awaiting review for this node")
    assert context_of(execution_id)["human_input"] is None
    synthesis = api_client.get(url(project, task, "synthesis")).json()  # before synthesis: empty, never a 500
    assert (synthesis["questions"], synthesis["final_plan"], synthesis["execution_id"]) == ([], "", execution_id)
    bad = api_client.post(url(project, task, "feedback"), {"answers": ["a"]}, format="json")
    assert bad.status_code == 400 and "answers" in bad.json()["detail"]
    for body, field in (('{"answers": {"0": "\\ud800"}}', "answers"), ('{"notes": "\\udfff"}', "notes")):
        lone = api_client.post(url(project, task, "feedback"), body, content_type="application/json")
        assert lone.status_code == 400 and field in lone.json()["detail"]  # no database stores a lone surrogate
    assert context_of(execution_id)["human_input"] is None
    assert api_client.get(url(project, 999999, "synthesis")).status_code == 404
    assert api_client.get("/projects/999999/nodes/needs-review").json()["detail"] == "Project not found"


def launch_pipeline_by_hand_status(api_client: APIClient, project: dict[str, Any], task: dict[str, Any]) -> int:
    api_client.patch(f"/projects/{project['id']}/nodes/{task['id']}", {"status": "pending"}, format="json")
    return launch_pipeline(api_client, project, task)["execution_id"]


def test_a_failing_agent_fails_the_execution_and_the_node_with_the_reason(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any], event_log: EventLog
) -> None:
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    answer_phase(execution_id, RESEARCH)
    answer_phase(execution_id, "a plan", failed={"codex"})
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "failed" and execution.finished_at is not None
    assert execution.error == "ideation: the codex agent failed: the agent failed (exit code 1): boom"
    assert node_status(task) == "failed" and event_log.named("node.updated")[-1]["status"] == "failed"
    assert not pending_steps(execution_id)


def test_critics_that_all_fail_abstain_and_the_attempt_counts_as_failed(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    run_to_review(execution_id)
    approve(api_client, project, task)
    answer_phase(execution_id, IMPLEMENTATION)
    answer_phase(execution_id, "x", failed={"claude", "codex", "gemini"})
    context = context_of(execution_id)
    assert context["retry_count"] == 1 and [r["vote"] for r in context["critic_results"]] == [None] * 3
    assert Execution.objects.get(pk=execution_id).status == "running"
    for _ in range(2):
        answer_phase(execution_id, IMPLEMENTATION)
        answer_phase(execution_id, CRITIC_NO)
    execution = Execution.objects.get(pk=execution_id)
    assert (execution.status, execution.error) == ("failed", "Max retries (3) exceeded")
    assert node_status(task) == "failed"


def test_a_major_no_vote_fails_the_run(api_client: APIClient, project: dict[str, Any], task: dict[str, Any]) -> None:
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    run_to_review(execution_id)
    approve(api_client, project, task)
    answer_phase(execution_id, IMPLEMENTATION)
    answer_phase(execution_id, {"claude": CRITIC_MAJOR, "codex": CRITIC_NO, "gemini": CRITIC_YES})
    execution = Execution.objects.get(pk=execution_id)
    assert (execution.status, execution.error) == ("failed", "Major issues detected, manual intervention required")
    assert node_status(task) == "failed"


@pytest.mark.parametrize("phase", ["research", "ideation", "synthesis", "implement", "critic"])
def test_cancel_at_a_phase_stops_it_blocks_the_node_and_is_never_overwritten(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any], phase: str
) -> None:
    from agents.services.lifecycle import StepOutcome, step_run_claim, step_run_finish
    from tests.support.pipelines import runner_id

    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    if phase in ("implement", "critic"):
        run_to_review(execution_id)
        approve(api_client, project, task)
        if phase == "critic":
            answer_phase(execution_id, IMPLEMENTATION)
    elif phase == "ideation":
        answer_phase(execution_id, RESEARCH)
    elif phase == "synthesis":
        answer_phase(execution_id, RESEARCH)
        answer_phase(execution_id, "a plan")
    pipeline_advance(execution_id=execution_id)
    steps = pending_steps(execution_id)
    assert steps and steps[0].metadata["pipeline_phase"] == phase
    runner = runner_id()
    assert step_run_claim(step_run=steps[0], runner_id=runner)
    response = api_client.post(f"/projects/{project['id']}/executions/{execution_id}/cancel")
    assert response.status_code == 200, response.content
    # The running agent's worker ends later: its outcome and the runner's cycles change nothing.
    step_run_finish(step_run_id=steps[0].pk, outcome=StepOutcome(status="completed", output="late"), runner_id=runner)
    pipeline_advance(execution_id=execution_id)
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "cancelled"
    assert set(StepRun.objects.filter(execution_id=execution_id).values_list("status", flat=True)) <= {
        "completed",
        "skipped",
    }
    assert StepRun.objects.get(pk=steps[0].pk).status == "skipped"
    assert node_status(task) == "blocked"


def test_cancel_at_the_gate_blocks_the_node_and_feedback_is_refused(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    run_to_review(execution_id)
    assert api_client.post(f"/projects/{project['id']}/executions/{execution_id}/cancel").status_code == 200
    assert node_status(task) == "blocked"
    refused = approve(api_client, project, task)
    assert refused.status_code == 400 and refused.json()["detail"] == "Node is not awaiting review (status: blocked)"


def test_an_agent_the_hub_interrupted_runs_again_and_the_run_goes_on(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    run_to_review(execution_id)
    approve(api_client, project, task)
    (crashed,) = answer_phase(execution_id, IMPLEMENTATION, crashed=True)
    assert Execution.objects.get(pk=execution_id).status == "running"
    (again,) = pending_steps(execution_id)
    assert (again.name, again.prompt, again.metadata["restart_of"]) == (crashed.name, crashed.prompt, crashed.pk)
    answer_phase(execution_id, IMPLEMENTATION)
    assert context_of(execution_id)["implementation"]["output"] == IMPLEMENTATION


def test_the_pipeline_file_can_be_replaced_without_code(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    from agents.builtin_pipelines import DEFAULT_FILE

    custom = tmp_path / "pipeline.md"
    text = (
        DEFAULT_FILE.read_text()
        .replace("agents: [gemini]", "agents: [claude]", 1)
        .replace("max_retries: 3", "max_retries: 1")
    )
    custom.write_text(text.replace("# research\n", "# research\n\nRESEARCH {{node.title}} {{unknown.key}}\n", 1))
    settings.PIPELINE_FILE = str(custom)
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    pipeline_advance(execution_id=execution_id)
    (research,) = pending_steps(execution_id)
    assert research.agent_type == "claude" and "RESEARCH Write the parser {{unknown.key}}" in research.prompt

    custom.write_text("---\nname: x\n---\n")
    other = api_client.post(f"/projects/{project['id']}/nodes", {"title": "Other"}, format="json").json()
    broken = api_client.post(url(project, other, "launch-pipeline"))
    assert broken.status_code == 503 and "pipeline.md" in broken.json()["detail"]
    assert Execution.objects.count() == 1


def test_a_pipeline_execution_is_listed_and_its_state_cannot_be_patched(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    listed = api_client.get(f"/projects/{project['id']}/executions").json()
    (row,) = [e for e in listed if e["id"] == execution_id]
    assert (row["template_id"], row["node_id"], row["status"]) == (None, task["id"], "running")
    assert row["metadata"]["pipeline_context"]["node_title"] == "Write the parser"
    patched = api_client.patch(
        f"/projects/{project['id']}/executions/{execution_id}", {"metadata": {"x": 1}}, format="json"
    )
    assert patched.status_code == 400 and patched.json()["detail"].startswith("metadata: ")
    assert "pipeline" in Execution.objects.get(pk=execution_id).metadata


def test_deleting_the_node_at_the_gate_fails_the_waiting_pipeline(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    execution_id = launch_pipeline(api_client, project, task)["execution_id"]
    run_to_review(execution_id)
    assert api_client.delete(f"/projects/{project['id']}/nodes/{task['id']}").status_code in (200, 204)
    pipeline_advance(execution_id=execution_id)
    execution = Execution.objects.get(pk=execution_id)
    assert (execution.status, execution.error) == ("failed", "the node was deleted")


def test_with_create_worktree_the_implementation_works_and_is_diffed_in_its_worktree(
    api_client: APIClient, project: dict[str, Any], task: dict[str, Any]
) -> None:
    import subprocess

    workspace = Path(project["workspace_path"])
    git_init(workspace)
    subprocess.run(["git", "add", "README.md"], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-qm", "start"], cwd=workspace, check=True)
    execution_id = launch_pipeline(api_client, project, task, create_worktree=True)["execution_id"]
    execution = Execution.objects.get(pk=execution_id)
    worktree = Path(execution.worktree_path or "")
    assert execution.worktree_branch == f"agent/exec-{execution_id}"
    run_to_review(execution_id)
    approve(api_client, project, task)
    answer_phase(execution_id, IMPLEMENTATION, before_finish=lambda: (worktree / "README.md").write_text("changed\n"))
    (critic, *_) = answer_phase(execution_id, CRITIC_YES)
    assert "-hello\n+changed" in critic.prompt
    assert (workspace / "README.md").read_text() == "hello\n"  # the workspace itself is untouched
    assert Execution.objects.get(pk=execution_id).status == "completed"
