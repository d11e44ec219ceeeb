"""The whole pipeline with the real claude, codex and gemini CLIs against the fake model server,
run by the hub's real runner: phases in order, ideation and critics side by side under ``desired``,
the review gate across a runner restart, an implementation that changes files, critics that read
its diff, a NO vote whose feedback reaches the retry, then YES and a completed node."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from agents.builtin_pipelines import DEFAULT_FILE
from agents.models import Execution, StepRun
from orchestration.services import workspace_set_desired
from projects.models import Deliverable, Node
from tests.fake_model_server import FakeModelServer
from tests.support.agent_runs import RunnerThread, point_clis_at, wait_for
from tests.support.dag_runs import EventLog
from tests.support.pipelines import CRITIC_NO, CRITIC_YES, IMPLEMENTATION, PLAN, RESEARCH, SYNTHESIS, git_init

pytestmark = [pytest.mark.cli, pytest.mark.django_db(transaction=True)]
FIRST_TRY = "printf 'parse()\\n' > parser.txt"
SECOND_TRY = "printf '# header\\nparse()\\n' > parser.txt"


def script(vendor: str, text: str) -> tuple[str, str | None]:
    """Each phase's answer in the format the pipeline reads; codex changes files when it implements."""
    if "Your Role: CRITIC" in text:
        return (CRITIC_YES if "+# header" in text else CRITIC_NO), None
    if "Execute this plan in the current directory" in text:
        return IMPLEMENTATION, (SECOND_TRY if "add a header line" in text else FIRST_TRY)
    if "Compare the plans." in text:
        return SYNTHESIS, None
    if "Create a detailed plan (plan.md)" in text:
        return f"{vendor}: {PLAN}", None
    if "Search the web and gather relevant sources" in text:
        return RESEARCH, None
    return "ok", None


@pytest.fixture
def pipeline_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Any) -> Iterator[FakeModelServer]:
    # The built-in pipeline, with the models the fake server's tests pin (an operator's file).
    text = DEFAULT_FILE.read_text().replace(
        "  - name: implement\n    agents: [codex]",
        "  - name: implement\n    agents: [codex]\n    models: {codex: gpt-5-codex}",
    )
    assert "gpt-5-codex" in text
    settings.PIPELINE_FILE = tmp_path / "pipeline.md"
    settings.PIPELINE_FILE.write_text(text)
    with FakeModelServer(script=script) as server:
        point_clis_at(server, monkeypatch, tmp_path / "home", settings)
        yield server


def node_status(node_id: int) -> str:
    return Node.objects.get(pk=node_id).status


def test_the_whole_pipeline_with_the_real_clis(
    api_client: APIClient, pipeline_model: FakeModelServer, project: dict[str, Any], event_log: EventLog
) -> None:
    workspace = Path(project["workspace_path"])
    git_init(workspace)
    workspace_set_desired(path=project["workspace_path"], desired=2)
    node = api_client.post(
        f"/projects/{project['id']}/nodes", {"title": "Write the parser", "description": "Parse it"}, format="json"
    ).json()
    base = f"/projects/{project['id']}/nodes/{node['id']}"
    launched = api_client.post(f"{base}/launch-pipeline", {"use_default_pipeline": True}, format="json")
    assert launched.status_code == 201, launched.content
    execution_id = launched.json()["execution_id"]

    with RunnerThread():
        wait_for(lambda: node_status(node["id"]) in ("needs_review", "failed"), timeout=240)
    # The runner stopped at the gate (a hub restart): the state is all in the database.
    execution = Execution.objects.get(pk=execution_id)
    assert node_status(node["id"]) == "needs_review", execution.error
    assert execution.status == "running" and execution.metadata["pipeline_context"]["current_phase"] == "synthesis"
    assert not StepRun.objects.filter(execution_id=execution_id, status__in=("pending", "running")).exists()
    questions = api_client.get(f"{base}/synthesis").json()
    assert questions["questions"] == ["Which format should win?", "Must comments survive?"]

    approved = api_client.post(
        f"{base}/feedback", {"answers": {"0": "TOML", "1": "yes"}, "approved": True}, format="json"
    )
    assert approved.status_code == 200, approved.content
    with RunnerThread():  # a new runner picks the pipeline up where it waited
        wait_for(lambda: Execution.objects.get(pk=execution_id).is_finished, timeout=400)

    execution = Execution.objects.get(pk=execution_id)
    assert (execution.status, execution.error) == ("completed", None)
    assert node_status(node["id"]) == "completed"
    assert (workspace / "parser.txt").read_text() == "# header\nparse()\n"  # the agent really changed files

    steps = list(StepRun.objects.filter(execution_id=execution_id).order_by("id"))
    phases = [(s.metadata["pipeline_phase"], s.agent_type) for s in steps]
    assert phases == [
        ("research", "gemini"),
        *[("ideation", a) for a in ("claude", "codex", "gemini")],
        ("synthesis", "claude"),
        ("implement", "codex"),
        *[("critic", a) for a in ("claude", "codex", "gemini")],
        ("implement", "codex"),
        *[("critic", a) for a in ("claude", "codex", "gemini")],
    ]
    assert all(s.status == "completed" and s.input_tokens for s in steps)
    # Phases in order: each starts after the previous one's agents all finished.
    groups = [
        list(g)
        for _, g in itertools.groupby(steps, key=lambda s: (s.metadata["pipeline_phase"], s.metadata["attempt"]))
    ]
    for before, after in itertools.pairwise(groups):
        assert min(s.started_at for s in after) >= max(s.finished_at for s in before)
    # Side by side, never more than desired = 2: two of the three overlapped, never all three.
    for group in groups:
        if len(group) == 3:
            spans = [(s.started_at, s.finished_at) for s in group]
            assert any(max(a[0], b[0]) < min(a[1], b[1]) for a, b in itertools.combinations(spans, 2))
            assert not max(s[0] for s in spans) < min(s[1] for s in spans)
    running = [e["running"] for e in event_log.named("orchestration.workspace") if e["workspaceId"] == str(workspace)]
    assert running and max(running) == 2

    implement_1, implement_2 = (s for s in steps if s.metadata["pipeline_phase"] == "implement")
    assert "Q1. Which format should win?\nA: TOML" in implement_1.prompt
    assert "Critic 1 (claude): add a header line to parser.txt" in implement_2.prompt
    critics = [s for s in steps if s.metadata["pipeline_phase"] == "critic"]
    assert all("+parse()" in s.prompt and "b/parser.txt" in s.prompt for s in critics[:3])
    assert all("+# header" in s.prompt for s in critics[3:])
    texts = pipeline_model.user_texts()
    assert any("+++ b/parser.txt" in t and "Your Role: CRITIC" in t for t in texts)  # what the model received
    results = execution.metadata["pipeline_context"]["critic_results"]
    assert [r["vote"] for r in results] == ["NO"] * 3 + ["YES"] * 3

    names = list(Deliverable.objects.filter(node_id=node["id"]).order_by("id").values_list("name", "status"))
    assert names == [("sources.md", "completed"), ("plan.md", "completed")]
    moves = [e["status"] for e in event_log.named("node.updated") if e["id"] == node["id"]]
    assert [k for k, _ in itertools.groupby(moves)] == ["in_progress", "needs_review", "in_progress", "completed"]
    assert all("parent_ids" in e and "title" in e for e in event_log.named("node.updated"))
    assert [e["name"] for e in event_log.named("deliverable.created")] == ["sources.md", "plan.md"]
    assert event_log.named("feedback.submitted") == [
        {"node_id": node["id"], "execution_id": execution_id, "approved": True}
    ]
    statuses = [e["status"] for e in event_log.named("execution.updated") if e["id"] == execution_id]
    assert statuses[0] == "running" and statuses[-1] == "completed"


def slow_phase(marker: str, seconds: float = 20) -> Any:
    """The script, but the phase whose prompt holds ``marker`` streams its answer over ``seconds``."""

    def slowed(vendor: str, text: str) -> tuple[str, str | None, float] | tuple[str, str | None]:
        reply, tool = script(vendor, text)
        return (reply, tool, seconds) if marker in text else (reply, tool)

    return slowed


def launch(api_client: APIClient, project: dict[str, Any], desired: int = 3) -> tuple[dict[str, Any], int]:
    git_init(Path(project["workspace_path"]))
    workspace_set_desired(path=project["workspace_path"], desired=desired)
    node = api_client.post(f"/projects/{project['id']}/nodes", {"title": "Write the parser"}, format="json").json()
    response = api_client.post(f"/projects/{project['id']}/nodes/{node['id']}/launch-pipeline")
    assert response.status_code == 201, response.content
    return node, response.json()["execution_id"]


def test_cancel_during_ideation_kills_the_agents_and_blocks_the_node(
    api_client: APIClient, pipeline_model: FakeModelServer, project: dict[str, Any]
) -> None:
    from tests.support.agent_runs import pid_gone

    pipeline_model.script = slow_phase("Create a detailed plan (plan.md)")
    node, execution_id = launch(api_client, project)
    with RunnerThread():
        running = wait_for(
            lambda: (
                list(StepRun.objects.filter(execution_id=execution_id, status="running", pid__isnull=False))
                if StepRun.objects.filter(execution_id=execution_id, status="running", pid__isnull=False).count() == 3
                else None
            ),
            timeout=120,
        )
        assert {s.metadata["pipeline_phase"] for s in running} == {"ideation"}
        response = api_client.post(f"/projects/{project['id']}/executions/{execution_id}/cancel")
        assert response.status_code == 200
        pids = [step.pid for step in running if step.pid is not None]
        wait_for(lambda: all(pid_gone(pid) for pid in pids), timeout=30)
        wait_for(lambda: not StepRun.objects.filter(execution_id=execution_id, status="running").exists(), timeout=30)
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "cancelled" and node_status(node["id"]) == "blocked"
    assert not StepRun.objects.filter(execution_id=execution_id, metadata__pipeline_phase="synthesis").exists()


def test_a_failing_agent_fails_the_run_with_its_reason(
    api_client: APIClient, pipeline_model: FakeModelServer, project: dict[str, Any], settings: Any
) -> None:
    # The research agent answers too slowly for the phase's time limit (set in the pipeline file).
    pipeline_model.script = slow_phase("Search the web and gather relevant sources", seconds=60)
    text = settings.PIPELINE_FILE.read_text()
    settings.PIPELINE_FILE.write_text(
        text.replace("agents: [gemini]\n", "agents: [gemini]\n    timeout_seconds: 3\n", 1)
    )
    node, execution_id = launch(api_client, project)
    with RunnerThread():
        wait_for(lambda: Execution.objects.get(pk=execution_id).is_finished, timeout=120)
    execution = Execution.objects.get(pk=execution_id)
    assert (execution.status, execution.error) == (
        "failed",
        "research: the gemini agent failed: timed out after 3s; the agent was stopped",
    )
    assert node_status(node["id"]) == "failed"
    assert not StepRun.objects.filter(execution_id=execution_id, metadata__pipeline_phase="ideation").exists()


def test_a_hub_restart_during_the_implementation_runs_it_again_and_completes(
    api_client: APIClient, pipeline_model: FakeModelServer, project: dict[str, Any]
) -> None:
    pipeline_model.script = slow_phase("Execute this plan in the current directory", seconds=15)
    node, execution_id = launch(api_client, project)
    base = f"/projects/{project['id']}/nodes/{node['id']}"
    with RunnerThread():
        wait_for(lambda: node_status(node["id"]) == "needs_review", timeout=240)
        assert api_client.post(f"{base}/feedback", {"approved": True}, format="json").status_code == 200
        wait_for(
            lambda: StepRun.objects.filter(
                execution_id=execution_id, metadata__pipeline_phase="implement", status="running", pid__isnull=False
            ).exists(),
            timeout=120,
        )
    interrupted = StepRun.objects.get(execution_id=execution_id, metadata__pipeline_phase="implement")
    assert (interrupted.status, interrupted.crashed) == ("failed", True)
    assert Execution.objects.get(pk=execution_id).status == "running"
    pipeline_model.script = script  # the second run answers at once
    with RunnerThread():
        wait_for(lambda: Execution.objects.get(pk=execution_id).is_finished, timeout=300)
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "completed", execution.error
    again = StepRun.objects.filter(execution_id=execution_id, metadata__restart_of=interrupted.pk).get()
    assert again.status == "completed" and again.prompt == interrupted.prompt
    assert node_status(node["id"]) == "completed"
