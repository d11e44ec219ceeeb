"""An execution's conversation: each prompt its agents were given and each final answer, in order.

It is read from the step runs themselves (nothing is stored twice, so it survives any restart):
every template step that started, then every follow-up message a user sent
(``POST .../executions/{eid}/messages``), each followed by the agent's answer once it finished.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypedDict

from agents.models import StepRun, StepRunStatus


class ConversationEntry(TypedDict):
    role: Literal["user", "agent"]
    step_run_id: int
    text: str | None
    status: str
    error: str | None
    at: datetime | None


def prompt_entry(step_run: StepRun) -> ConversationEntry:
    """What was sent: a follow-up when the user posted it, a template step when it started."""
    return {
        "role": "user",
        "step_run_id": step_run.pk,
        "text": step_run.prompt,
        "status": step_run.status,
        "error": None,
        "at": step_run.created_at if step_run.is_message else step_run.started_at,
    }


def answer_entry(step_run: StepRun) -> ConversationEntry:
    return {
        "role": "agent",
        "step_run_id": step_run.pk,
        "text": step_run.output,
        "status": step_run.status,
        "error": step_run.error,
        "at": step_run.finished_at,
    }


def conversation(step_runs: list[StepRun]) -> list[ConversationEntry]:
    """``step_runs`` of one execution, any order; the entries in the order they happened."""
    entries: list[ConversationEntry] = []
    for step_run in sorted(step_runs, key=lambda s: s.pk):
        if not step_run.is_message and step_run.started_at is None:
            continue  # a template step that never ran said nothing
        entries.append(prompt_entry(step_run))
        if step_run.finished_at is not None and step_run.status != StepRunStatus.PENDING:
            entries.append(answer_entry(step_run))
    return entries
