"""What the console's execution page shows of a pipeline: its phases with their agents, the
synthesis and the review form, the critics' votes with their reasons, and the deliverables."""

from __future__ import annotations

import itertools
from typing import Any

from agents.models import Execution, StepRun
from agents.services.pipelines.machine import CONTEXT, STATE, is_pipeline
from projects.models import Deliverable

PHASE_TITLES = {
    "research": "Research",
    "ideation": "Ideation",
    "synthesis": "Synthesis",
    "implement": "Implementation",
    "critic": "Critics",
}


def pipeline_page(execution: Execution) -> dict[str, Any] | None:
    if not is_pipeline(execution):
        return None
    state, context = execution.metadata[STATE], execution.metadata.get(CONTEXT) or {}
    runs = StepRun.objects.filter(execution_id=execution.pk).order_by("id")
    phases = []
    for (phase, attempt), group in itertools.groupby(
        runs, key=lambda run: (run.metadata.get("pipeline_phase"), run.metadata.get("attempt"))
    ):
        steps = list(group)
        title = PHASE_TITLES.get(phase or "", phase or "?")
        if phase in ("implement", "critic"):
            title += f" (attempt {attempt})"
        phases.append({"title": title, "steps": steps})
        if phase == "synthesis":
            phases.append({"title": "Human review", "review": True})
    synthesis = context.get("synthesis") or {}
    answers = (context.get("human_input") or {}).get("answers") or {}
    questions = [
        {"index": index, "text": text, "answer": answers.get(str(index), "")}
        for index, text in enumerate(synthesis.get("questions") or [])
    ]
    votes = sorted(context.get("critic_results") or [], key=lambda vote: -vote.get("attempt", 0))
    deliverables = (
        Deliverable.objects.filter(node_id=execution.node_id, execution_id=execution.pk).order_by("-created_at", "-id")
        if execution.node_id
        else Deliverable.objects.none()
    )
    return {
        "name": execution.metadata.get("pipeline_name"),
        "current_phase": context.get("current_phase"),
        "retry_count": context.get("retry_count", 0),
        "awaiting_review": bool(state.get("awaiting_review")) and not execution.is_finished,
        "phases": phases,
        "synthesis": synthesis,
        "questions": questions,
        "human_input": context.get("human_input"),
        "votes": votes,
        "implementation": context.get("implementation") or {},
        "deliverables": list(deliverables),
    }
