"""What clients do to pipelines: launch one on a node, answer its review (approve or reject).

Both are one transaction each that only writes rows and returns: the runner (``machine``) starts
every phase, so no request waits for an agent or for the disk.
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone

from agents import events, selectors
from agents.builtin_pipelines import PipelineDefinitionError, read_pipeline
from agents.models import EXECUTION_ACTIVE, Execution, ExecutionStatus
from agents.services.lifecycle import execution_build
from agents.services.pipelines.machine import CONTEXT, STATE, _end, _save
from agents.services.pipelines.nodes import ACTIVE_NODE_STATUSES, NEEDS_REVIEW, node_status_move
from agents.services.pipelines.prompts import initial_context
from agents.wakeup import wake_runners_on_commit
from orchestra_site.api.exceptions import InvalidInput, NotFound, ServiceUnavailable
from orchestra_site.models_update import update_rows
from projects.models import Node

ALREADY_ACTIVE = "Pipeline already active for this node"
NOT_AWAITING = "No pipeline is awaiting review for this node"


class FeedbackResult(TypedDict):
    status: str
    message: str
    node_id: int
    execution_id: int


def latest_pipeline(node_id: int) -> Execution | None:
    """The node's newest pipeline execution (the one whose metadata holds a pipeline context)."""
    return Execution.objects.filter(node_id=node_id, metadata__has_key=CONTEXT).order_by("-created_at", "-id").first()


@transaction.atomic
def pipeline_launch(*, project_id: int, node_id: int, create_worktree: bool = False) -> Execution:
    """A running pipeline execution on the node, its research phase queued for the runner.

    404 ``Project not found`` / ``Node not found``; 400 ``Pipeline already active for this node``
    while the node is ``in_progress`` or ``needs_review`` or has a running pipeline.
    """
    project = selectors.project_get(project_id, for_update=True)
    selectors.node_get(project_id=project_id, node_id=node_id)
    node = Node.objects.select_for_update().get(pk=node_id)
    running = Execution.objects.filter(node_id=node_id, status__in=EXECUTION_ACTIVE, metadata__has_key=STATE)
    if node.status in ACTIVE_NODE_STATUSES or running.exists():
        raise InvalidInput(ALREADY_ACTIVE)
    try:
        definition = read_pipeline()
    except PipelineDefinitionError as error:
        raise ServiceUnavailable(f"the pipeline definition cannot be read: {error}") from None
    context = initial_context(node)
    metadata: dict[str, Any] = {
        "pipeline_name": definition.name,
        CONTEXT: context,
        STATE: {
            "definition": definition.as_json(),
            "phase": None,
            "start": "research",
            "step_run_ids": [],
            "awaiting_review": False,
            "open": True,
            "version": 0,
        },
    }
    if create_worktree:
        metadata["_create_worktree"] = True
    execution = execution_build(
        project=project,
        node=node,
        template=None,
        context={},
        metadata=metadata,
        create_worktree=create_worktree,
        queued=True,
    )
    now = timezone.now()
    update_rows(Execution.objects.filter(pk=execution.pk), now=now, status=ExecutionStatus.RUNNING, started_at=now)
    execution.refresh_from_db()
    events.send_execution_updated(execution)
    node_status_move(node_id=node.pk, status="in_progress")
    wake_runners_on_commit()
    return execution


@transaction.atomic
def pipeline_feedback(
    *, project_id: int, node_id: int, answers: dict[str, str], notes: str | None, approved: bool
) -> FeedbackResult:
    """The human's answer at the review gate.

    Errors, in order: 404 ``Node not found``; 400 ``Node is not awaiting review (status: …)``;
    404 ``No execution found for this node``; 400 ``No pipeline is awaiting review for this node``
    (its newest pipeline is not running at the gate); 400 ``answers.<key>: …`` for a key that is not
    the index of one of the synthesis's questions. Nothing is written on any error.

    Approve: ``human_input`` stored, node ``in_progress``, implementation queued. Reject: the
    execution ``cancelled`` and the node ``blocked``. Then ``feedback.submitted``.
    """
    node = _node(project_id, node_id)
    if node.status != NEEDS_REVIEW:
        raise InvalidInput(f"Node is not awaiting review (status: {node.status})")
    latest = latest_pipeline(node_id)
    if latest is None:
        raise NotFound("No execution found for this node")
    execution = Execution.objects.select_for_update().get(pk=latest.pk)
    state = (execution.metadata or {}).get(STATE) or {}
    context = execution.metadata.get(CONTEXT) or {}
    waiting = (
        execution.status in EXECUTION_ACTIVE
        and state.get("awaiting_review")
        and context.get("current_phase") == "synthesis"
    )
    if not waiting:
        raise InvalidInput(NOT_AWAITING)
    questions = (context.get("synthesis") or {}).get("questions") or []
    _check_answers(answers, len(questions))
    context["human_input"] = {"answers": answers, "notes": notes, "approved": approved}
    if approved:
        state.update(awaiting_review=False, start="implement")
        _save(execution)
        node_status_move(node_id=node_id, status="in_progress", expect=(NEEDS_REVIEW,))
        wake_runners_on_commit()
        message = "Feedback submitted, resuming execution"
    else:
        _end(execution, ExecutionStatus.CANCELLED, "the plan was rejected at review")
        node_status_move(node_id=node_id, status="blocked", expect=(NEEDS_REVIEW,))
        message = "Plan rejected, execution paused"  # the desktop's text; the run is cancelled
    events.send_feedback_submitted(
        project_id=project_id, data={"node_id": node_id, "execution_id": execution.pk, "approved": approved}
    )
    return {"status": "success", "message": message, "node_id": node_id, "execution_id": execution.pk}


def _node(project_id: int, node_id: int) -> Node:
    node = Node.objects.select_for_update().filter(pk=node_id, project_id=project_id).first()
    if node is None:
        raise NotFound("Node not found")
    return node


def _check_answers(answers: dict[str, str], count: int) -> None:
    for key in answers:
        if not (key.isdigit() and int(key) < count and str(int(key)) == key):
            known = f"0 to {count - 1}" if count else "none: the synthesis asked no questions"
            raise InvalidInput(f"answers.{key}: no such question (question indices are {known})")


def pipeline_cancelled(execution: Execution) -> None:
    """``execution_cancel`` on a pipeline: its node becomes ``blocked`` (Run is enabled again)."""
    state = (execution.metadata or {}).get(STATE)
    if state is None:
        return
    state.update(start=None, awaiting_review=False, open=False)
    Execution.objects.filter(pk=execution.pk).update(metadata=execution.metadata)
    node_status_move(node_id=execution.node_id, status="blocked", expect=ACTIVE_NODE_STATUSES)


# --- Reads --------------------------------------------------------------------------------------


def synthesis_of(node: Node) -> dict[str, Any]:
    """The contract's ``SynthesisQuestions`` for a node (empty lists before synthesis ran)."""
    execution = latest_pipeline(node.pk)
    context = ((execution.metadata or {}).get(CONTEXT) if execution else None) or {}
    synthesis = context.get("synthesis") or {}
    return {
        "node_id": node.pk,
        "node_title": node.title,
        "execution_id": execution.pk if execution else None,
        "status": node.status,
        "agreements": list(synthesis.get("agreements") or []),
        "conflicts": list(synthesis.get("conflicts") or []),
        "questions": list(synthesis.get("questions") or []),
        "final_plan": synthesis.get("final_plan") or "",
    }


def synthesis_get(*, project_id: int, node_id: int) -> dict[str, Any]:
    node = Node.objects.filter(pk=node_id, project_id=project_id).first()
    if node is None:
        raise NotFound("Node not found")
    return synthesis_of(node)


def needs_review_list(*, project_id: int) -> list[dict[str, Any]]:
    selectors.project_require(project_id)
    nodes = Node.objects.filter(project_id=project_id, status=NEEDS_REVIEW).order_by("id")
    return [synthesis_of(node) for node in nodes]
