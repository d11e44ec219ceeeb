"""Which workspaces a runner serves: those under its own ``ORCHESTRA_WORKSPACE_ROOTS``.

A workspace path exists on one machine, so each runner (inside ``serve`` or ``runagents``) takes
only the steps whose workspace lies under its roots. Every hub process publishes its roots
(``ProcessRoots``), which splits the steps no runner here takes in two:

- inside the roots of some live process (e.g. the ``serve`` that accepted the project) but no
  live runner's: the step waits for a runner of that machine, and says so, once, in its step run
  (``metadata.waiting_for``) and in the execution's log;
- outside the roots of every live process: nobody will ever serve it, so a runner takes it and
  the launch's confinement check fails it clearly (``outside ORCHESTRA_WORKSPACE_ROOTS``).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from agents import events, logs
from agents.models import ProcessRoots, StepRun, StepRunStatus
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


def process_roots_register(*, process_id: int, roots: list[str], runs_agents: bool) -> None:
    ProcessRoots.objects.update_or_create(process_id=process_id, defaults={"roots": roots, "runs_agents": runs_agents})


def live_roots(*, me: int, my_roots: list[str], runners_only: bool) -> list[str]:
    """The roots of every live process (or only of live runners); this one always counts."""
    alive = HubProcess.objects.alive(dead_after=settings.RUNNER_DEAD_AFTER).filter(stopped_at__isnull=True)
    others = ProcessRoots.objects.filter(process__in=alive).exclude(process_id=me)
    if runners_only:
        others = others.filter(runs_agents=True)
    roots = list(my_roots)
    for theirs in others.values_list("roots", flat=True):
        roots.extend(root for root in theirs if isinstance(root, str))
    return roots


def claimable_q(*, me: int, my_roots: list[str]) -> Q:
    """The steps this runner takes: under its roots, or under no live process's roots at all."""
    return under_roots_q(my_roots) | ~under_roots_q(live_roots(me=me, my_roots=my_roots, runners_only=False))


def claimable_executions_q(*, me: int, my_roots: list[str]) -> Q:
    """``claimable_q`` for executions: the pipelines this runner advances (it reads their folders)."""
    others = live_roots(me=me, my_roots=my_roots, runners_only=False)
    return under_roots_q(my_roots, field="workspace_path") | ~under_roots_q(others, field="workspace_path")


def step_runs_note_unserved(*, me: int, my_roots: list[str]) -> int:
    """Ready steps that wait for a runner of another machine say why, once."""
    runners = live_roots(me=me, my_roots=my_roots, runners_only=True)
    anyone = live_roots(me=me, my_roots=my_roots, runners_only=False)
    noted = 0
    for step_run in ready_step_runs(limit=200):
        path = step_run.execution.workspace_path
        metadata = step_run.metadata if isinstance(step_run.metadata, dict) else {}
        if is_under(path, runners) or not is_under(path, anyone) or WAITING_KEY in metadata:
            continue
        reason = f"waiting for a runner that serves {path}"
        with transaction.atomic():  # the step run and the log say it together
            # ``updated_at`` as the version: of two runners noticing at once, one writes.
            noted_now = StepRun.objects.filter(
                pk=step_run.pk, status=StepRunStatus.PENDING, updated_at=step_run.updated_at
            ).update(metadata={**metadata, WAITING_KEY: reason})
            if not noted_now:
                continue
            step_run.refresh_from_db()
            events.send_step_run_updated(step_run, project_id=step_run.execution.project_id)
            event = {"kind": "system", "subtype": "waiting", "text": reason, "raw": reason}
            frame = logs.output_frame(
                execution_id=step_run.execution_id,
                step_id=step_run.step_id,
                step_run_id=step_run.pk,
                data=f"[{reason}]\n",
                event=event,
            )
            logs.append_entries(execution_id=step_run.execution_id, step_run_id=step_run.pk, frames=[frame])
        noted += 1
    return noted
