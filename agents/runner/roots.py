"""Which workspaces a runner serves: those under its own ``ORCHESTRA_WORKSPACE_ROOTS``.

A workspace path exists on one machine, so each runner (inside ``serve`` or ``runagents``) takes
only steps whose workspace lies under its roots, and publishes its roots so that any runner can
tell a step that no live runner serves, and say so in the step run and the execution's log.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import Q

from agents import events
from agents.models import RunnerRoots, StepRun
from agents.runner import logs
from agents.runner.queue import ready_step_runs
from orchestra_site.models import HubProcess

WAITING_KEY = "waiting_for"


def served_roots() -> list[str]:
    """This process's roots, as configured and resolved (a symlinked root matches both ways)."""
    roots: list[str] = []
    for root in settings.WORKSPACE_ROOTS:
        for form in (str(Path(root)), str(Path(root).resolve())):
            if form not in roots:
                roots.append(form)
    return roots


def under_roots_q(roots: list[str], field: str = "execution__workspace_path") -> Q:
    """Rows whose workspace is one of ``roots`` or lies below one (no root: nothing)."""
    condition = Q(pk__in=[])
    for root in roots:
        condition |= Q(**{field: root}) | Q(**{f"{field}__startswith": root.rstrip("/") + "/"})
    return condition


def is_under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def runner_roots_register(*, process_id: int, roots: list[str]) -> None:
    RunnerRoots.objects.update_or_create(process_id=process_id, defaults={"roots": roots})


def live_roots(*, me: int, my_roots: list[str]) -> list[str]:
    """The roots every live runner serves (this one always counts as live)."""
    alive = HubProcess.objects.alive(dead_after=settings.RUNNER_DEAD_AFTER).filter(stopped_at__isnull=True)
    roots = list(my_roots)
    for theirs in RunnerRoots.objects.filter(process__in=alive).exclude(process_id=me).values_list("roots", flat=True):
        roots.extend(root for root in theirs if isinstance(root, str))
    return roots


def step_runs_note_unserved(*, me: int, my_roots: list[str]) -> int:
    """Ready steps no live runner serves stay pending and say why, once, in the step run and log."""
    roots = live_roots(me=me, my_roots=my_roots)
    noted = 0
    for step_run in ready_step_runs(limit=200):
        path = step_run.execution.workspace_path
        metadata = step_run.metadata if isinstance(step_run.metadata, dict) else {}
        if is_under(path, roots) or WAITING_KEY in metadata:
            continue
        reason = f"waiting for a runner that serves {path}"
        # ``updated_at`` as the version: of two runners noticing at once, one writes.
        if not StepRun.objects.filter(pk=step_run.pk, status="pending", updated_at=step_run.updated_at).update(
            metadata={**metadata, WAITING_KEY: reason}
        ):
            continue
        step_run.refresh_from_db()
        events.send_step_run_updated(step_run, project_id=step_run.execution.project_id)
        event = {"kind": "system", "subtype": "waiting", "text": reason, "raw": reason}
        logs.append_entries(
            execution_id=step_run.execution_id,
            step_run_id=step_run.pk,
            frames=[
                logs.output_frame(
                    execution_id=step_run.execution_id,
                    step_id=step_run.step_id,
                    step_run_id=step_run.pk,
                    data=f"[{reason}]\n",
                    event=event,
                )
            ],
        )
        noted += 1
    return noted
