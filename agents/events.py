"""The execution, step-run and DAG-run events of the project socket.

Sent through ``orchestra_site.realtime.events``, so they leave after the surrounding transaction commits.
The REST services and the runner both call these, so every path that changes a row says so.
Payloads come from the API's serializers (or a subset of their fields), so an event carries a
resource exactly as the HTTP answer does.
"""

from __future__ import annotations

from typing import Any

from agents.conversation import ConversationEntry, answer_entry, prompt_entry
from agents.models import DagRun, Execution, ExecutionStatus, StepRun
from agents.selectors import attach_command
from agents.serializers import (
    LANDING_FIELDS,
    DagRunSerializer,
    ExecutionMessageSerializer,
    ExecutionSerializer,
    StepRunSerializer,
)
from orchestra_site.api.serializers import to_json
from orchestra_site.realtime.events import broadcast_event, project_group

EXECUTION_CREATED = "execution.created"
EXECUTION_UPDATED = "execution.updated"
EXECUTION_STATUS = "execution.status"
EXECUTION_MERGED = "execution.merged"
STEP_RUN_UPDATED = "step_run.updated"
EXECUTION_MESSAGE = "execution.message"
QUEUED_MESSAGE = "queued for the hub's runner"


class ExecutionCreatedSerializer(ExecutionSerializer):
    """``execution.created``: the execution's fields the contract names, as the API writes them,
    plus its place in a best-of-N group."""

    class Meta(ExecutionSerializer.Meta):
        fields = ["id", "node_id", "template_id", "status", "attempt", "attempt_group"]
        read_only_fields = fields


class ExecutionUpdatedSerializer(ExecutionSerializer):
    class Meta(ExecutionSerializer.Meta):
        fields = ["id", "node_id", "status", "attempt", "attempt_group", *LANDING_FIELDS]
        read_only_fields = fields


class StepRunUpdatedSerializer(StepRunSerializer):
    class Meta(StepRunSerializer.Meta):
        fields = ["id", "execution_id", "status"]
        read_only_fields = fields


def send_execution_created(execution: Execution) -> None:
    broadcast_event(
        project_group(execution.project_id), EXECUTION_CREATED, to_json(ExecutionCreatedSerializer, execution)
    )


def send_execution_updated(execution: Execution) -> None:
    broadcast_event(
        project_group(execution.project_id), EXECUTION_UPDATED, to_json(ExecutionUpdatedSerializer, execution)
    )


def send_execution_merged(execution: Execution, result: dict[str, Any]) -> None:
    """``execution.merged``: the execution's id and the merge's answer (target, commit, strategy)."""
    broadcast_event(project_group(execution.project_id), EXECUTION_MERGED, {"id": execution.pk, **result})


def execution_status_data(execution: Execution) -> dict[str, Any]:
    """The forms, by status: the runner took it (``running``, with the command to follow it),
    it failed (``error``), or it waits for the hub's runner (``pending``, after launch)."""
    data: dict[str, Any] = {"id": execution.pk, "status": execution.status}
    if execution.status == ExecutionStatus.RUNNING:
        data["tmux_session"] = execution.tmux_session
        data["attach_command"] = attach_command(execution.pk)
    elif execution.status in (ExecutionStatus.FAILED, ExecutionStatus.BUDGET_EXCEEDED):
        data["error"] = execution.error
    elif execution.status == ExecutionStatus.PENDING:
        data["message"] = QUEUED_MESSAGE
    return data


def send_execution_status(execution: Execution) -> None:
    """``execution.status``: after launch (pending, queued) and when the runner starts or ends it."""
    broadcast_event(project_group(execution.project_id), EXECUTION_STATUS, execution_status_data(execution))


def send_step_run_updated(step_run: StepRun, *, project_id: int | None = None) -> None:
    """``project_id`` saves a query when the caller knows it; otherwise it is read via the execution."""
    if project_id is None:
        project_id = Execution.objects.values_list("project_id", flat=True).get(pk=step_run.execution_id)
    broadcast_event(project_group(project_id), STEP_RUN_UPDATED, to_json(StepRunUpdatedSerializer, step_run))


def send_execution_message_prompt(step_run: StepRun, *, project_id: int) -> None:
    """``execution.message`` with a follow-up the user sent (``role: user``)."""
    _send_message(prompt_entry(step_run), execution_id=step_run.execution_id, project_id=project_id)


def send_execution_message_answer(step_run: StepRun, *, project_id: int) -> None:
    """``execution.message`` with the agent's final answer to a follow-up (``role: agent``)."""
    _send_message(answer_entry(step_run), execution_id=step_run.execution_id, project_id=project_id)


def _send_message(entry: ConversationEntry, *, execution_id: int, project_id: int) -> None:
    payload = to_json(ExecutionMessageSerializer, {**entry, "execution_id": execution_id})
    broadcast_event(project_group(project_id), EXECUTION_MESSAGE, payload)


DAG_RUN_CREATED = "dag_run.created"
DAG_RUN_UPDATED = "dag_run.updated"


def send_dag_run_created(dag_run: DagRun) -> None:
    """``dag_run.created`` with the whole run (the body ``POST /projects/{pid}/dag-runs`` answers)."""
    broadcast_event(project_group(dag_run.project_id), DAG_RUN_CREATED, to_json(DagRunSerializer, dag_run))


def send_dag_run_updated(dag_run: DagRun) -> None:
    """``dag_run.updated`` with the whole run, after any of its nodes or its status moved."""
    broadcast_event(project_group(dag_run.project_id), DAG_RUN_UPDATED, to_json(DagRunSerializer, dag_run))


FEEDBACK_SUBMITTED = "feedback.submitted"


def send_feedback_submitted(*, project_id: int, data: dict[str, Any]) -> None:
    """``feedback.submitted``: ``{node_id, execution_id, approved}`` after a review answer."""
    broadcast_event(project_group(project_id), FEEDBACK_SUBMITTED, data)
