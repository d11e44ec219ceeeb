"""Run records and their ``run.created`` / ``run.updated`` events."""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import transaction
from django.utils import timezone

from orchestra_site import wakeups
from orchestra_site.api.exceptions import InvalidInput
from orchestra_site.models_update import model_update
from orchestra_site.timestamps import status_timestamps
from projects import events, selectors
from projects.models import Node, Run, RunStatus

RUN_FIELDS = ("status", "output", "error", "metadata", "started_at", "finished_at")


class RunChanges(TypedDict, total=False):
    status: str
    output: str | None
    error: str | None
    metadata: dict[str, Any] | None


@transaction.atomic
def run_create(*, project_id: int, node_id: int, agent_type: str, prompt: str, status: str = RunStatus.QUEUED) -> Run:
    """Store the record and send ``run.created``; nothing runs yet.

    This is the hook the agents app wires: launching the agent belongs after this record exists
    (``transaction.on_commit``), so the runner always finds the row it reports progress on.
    """
    selectors.project_require(project_id)
    if not Node.objects.filter(pk=node_id, project_id=project_id).exists():
        raise InvalidInput("Node not found in this project")
    now = timezone.now()
    run = Run.objects.create(
        project_id=project_id,
        node_id=node_id,
        agent_type=agent_type,
        prompt=prompt,
        status=status,
        started_at=now if status == RunStatus.RUNNING else None,
        finished_at=now if status in RunStatus.finished() else None,
        created_at=now,
        updated_at=now,
    )
    events.send_run_created(run)
    if status == RunStatus.QUEUED:
        wakeups.wake_on_commit(wakeups.WORK)  # a runner adopts it
    return run


@transaction.atomic
def run_update(*, project_id: int, run_id: int, changes: RunChanges) -> Run:
    """``running`` fills ``started_at`` once; every finished status stamps ``finished_at`` anew."""
    run = selectors.run_get(project_id=project_id, run_id=run_id)
    data: dict[str, Any] = dict(changes)
    if data.get("metadata") is None:
        data.pop("metadata", None)
    if "status" in data:
        data.update(status_timestamps(data["status"], finished=RunStatus.finished()))
    run, _ = model_update(run, data=data, fields=RUN_FIELDS)
    events.send_run_updated(run)
    return run
