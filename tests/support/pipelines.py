"""Helpers for the pipeline tests: scripted agent answers in the formats the pipeline reads, and
instant agents (a step claimed and finished by hand, as a runner would)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rest_framework.test import APIClient

from agents.models import Execution, StepRun
from agents.services.lifecycle import StepOutcome, step_run_claim, step_run_finish
from agents.services.pipelines import pipeline_advance
from orchestra_site.models import HubProcess
from orchestra_site.services import hub_process_register

RESEARCH = """## Search Queries
1. how to parse a config file
2. config parser pitfalls

## Sources
### [Parsing guide](https://example.com/parsing)
- Use a real parser
- Validate early

### [Pitfalls](https://example.org/pitfalls)
- Watch encodings

## Summary
Parsing is best done with a library.
"""

PLAN = "## Approach\nWrite a parser.\n\n## Steps\n1. Read\n2. Parse"

SYNTHESIS = """## Agreements
- Use a library
- Add tests

## Conflicts
- Claude wants TOML, Codex wants YAML

## Questions for Human
1. Which format should win?
2. Must comments survive?

## Final Plan
### Step 1
Write `parser.txt`.
### Step 2
Test it.
"""

IMPLEMENTATION = "I wrote parser.txt."
CRITIC_NO = "VOTE: NO\nSEVERITY: minor\nREASONING: the file lacks a header\nFEEDBACK: add a header line to parser.txt"
CRITIC_YES = "VOTE: YES\nREASONING: it does the plan\nFEEDBACK: none"
CRITIC_MAJOR = "VOTE: NO\nSEVERITY: major\nREASONING: wrong approach\nFEEDBACK: start over"


def launch_pipeline(client: APIClient, project: dict[str, Any], node: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = client.post(f"/projects/{project['id']}/nodes/{node['id']}/launch-pipeline", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def runner_id() -> int:
    return hub_process_register(kind=HubProcess.KIND_RUNNER).pk


def pending_steps(execution_id: int) -> list[StepRun]:
    return list(StepRun.objects.filter(execution_id=execution_id, status="pending").order_by("id"))


def answer_phase(
    execution_id: int,
    answer: str | Callable[[StepRun], str] | dict[str, str],
    *,
    failed: set[str] = frozenset(),  # type: ignore[assignment]
    crashed: bool = False,
    runner: int | None = None,
    before_finish: Callable[[], object] | None = None,
) -> list[StepRun]:
    """Advance to the next phase, run its step runs as instant agents answering ``answer``, advance."""
    pipeline_advance(execution_id=execution_id)
    steps = pending_steps(execution_id)
    assert steps, "no step run pending"
    runner = runner or runner_id()
    for step in steps:
        assert step_run_claim(step_run=step, runner_id=runner)
    if before_finish is not None:
        before_finish()
    for step in steps:
        if isinstance(answer, dict):
            text = answer[step.agent_type]
        elif callable(answer):
            text = answer(step)
        else:
            text = answer
        if crashed:
            outcome = StepOutcome(status="failed", crashed=True, error="crashed: the runner stopped")
        elif step.agent_type in failed:
            outcome = StepOutcome(status="failed", error="the agent failed (exit code 1): boom", exit_code=1)
        else:
            outcome = StepOutcome(status="completed", output=text, exit_code=0, input_tokens=3, output_tokens=5)
        step_run_finish(step_run_id=step.pk, outcome=outcome, runner_id=runner)
    pipeline_advance(execution_id=execution_id)
    return list(StepRun.objects.filter(pk__in=[step.pk for step in steps]).order_by("id"))


def run_to_review(execution_id: int) -> None:
    answer_phase(execution_id, RESEARCH)
    answer_phase(execution_id, lambda step: f"{step.agent_type} says: {PLAN}")
    answer_phase(execution_id, SYNTHESIS)


def context_of(execution_id: int) -> dict[str, Any]:
    return Execution.objects.get(pk=execution_id).metadata["pipeline_context"]


def git_init(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for argv in (["git", "init", "-q"], ["git", "config", "user.email", "t@example.com"]):
        subprocess.run(argv, cwd=folder, check=True)
    (folder / "README.md").write_text("hello\n")
