"""Nothing stays "running" forever: dead runners are reaped, restarted ones end their orphans."""

from __future__ import annotations

import logging
import os
import signal
import socket
from pathlib import Path

from django.conf import settings
from django.db.models import Q

from agents.models import StepRun, StepRunStatus
from agents.runner.process import kill_group
from agents.runner.tree import kill_tree, tree_marker
from agents.services.lifecycle import StepOutcome, release_slot, step_run_finish
from orchestra_site.models import HubProcess

logger = logging.getLogger(__name__)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_runners(*, me: int | None) -> dict[int, str]:
    """Runners that stopped, missed their heartbeat, or (on this host) whose process is gone,
    each with what happened to it.

    A runner that misses its heartbeat stops its own agents at half of
    ``ORCHESTRA_RUNNER_DEAD_AFTER`` (``orchestra_site.heartbeat``), so by the time it counts as
    dead here its agents are gone, even if it was only cut off from the database.
    """
    holding = Q(step_runs__status=StepRunStatus.RUNNING) | Q(step_runs__slot_path__isnull=False)
    busy = HubProcess.objects.filter(holding).distinct().with_silence()
    if me is not None:
        busy = busy.exclude(pk=me)
    dead = {}
    for runner in busy:
        where = f"the runner {runner.hostname}:{runner.pid}"
        if runner.stopped_at is not None:
            dead[runner.pk] = f"{where} stopped while the agent ran"
        elif runner.hostname == socket.gethostname() and not pid_alive(runner.pid):
            dead[runner.pk] = f"{where} exited while the agent ran"
        elif (silent := runner.silent_for.total_seconds()) > settings.RUNNER_DEAD_AFTER:
            dead[runner.pk] = (
                f"{where} missed its heartbeat for {silent:.0f}s (stopped, or cut off from the database) "
                "while the agent ran; it stops its agents when it cannot beat"
            )
    return dead


def reap_dead_runners(*, me: int | None) -> int:
    """Mark the running steps of dead runners failed as crashed and free their slots."""
    dead = dead_runners(me=me)
    orphaned = StepRun.objects.filter(Q(runner_id__in=dead) | Q(runner__isnull=True), status=StepRunStatus.RUNNING)
    crashed = _crash(list(orphaned.select_related("runner")), why=dead)
    # A step cancelled while its runner was dying is no longer running but may still hold a slot.
    for step_run_id in StepRun.objects.filter(runner_id__in=dead, slot_path__isnull=False).values_list("pk", flat=True):
        release_slot(step_run_id)
    return crashed


def recover_after_hub_restart() -> int:
    """The whole hub restarted (no live peer): every step still marked running has crashed."""
    return _crash(list(StepRun.objects.filter(status=StepRunStatus.RUNNING).select_related("runner")))


def _crash(step_runs: list[StepRun], *, why: dict[int, str] | None = None) -> int:
    for step_run in step_runs:
        runner = step_run.runner
        if runner is not None and runner.hostname == socket.gethostname():
            end_orphan(step_run)
        if runner is None:
            happened = "an unknown runner held the agent"
        else:
            stopped = f"the runner {runner.hostname}:{runner.pid} stopped while the agent ran"
            happened = (why or {}).get(runner.pk) or stopped
        step_run_crash(step_run_id=step_run.pk, error=f"crashed: {happened}; its result is unknown")
        logger.warning("step run %s marked crashed (%s)", step_run.pk, happened)
    return len(step_runs)


def step_run_crash(*, step_run_id: int, error: str) -> None:
    """Finish a step whose agent nobody watches any more: failed, crashed (a DAG run retries it
    without using an attempt), its slot freed."""
    step_run_finish(step_run_id=step_run_id, outcome=StepOutcome(status="failed", crashed=True, error=error))


def end_orphan(step_run: StepRun) -> None:
    """Kill the agent a dead runner left on this host and all it started: its pid if that pid is
    really ours, its cgroup, and every process that carries its marker (``setsid`` ones too)."""
    runner = step_run.runner
    marker = tree_marker(hub_pid=runner.pid, tag=str(step_run.pk)) if runner is not None else None
    pid = step_run.pid if step_run.pid and marker and carries(step_run.pid, marker) else None
    kill_tree(pid, marker=marker)
    if pid is not None:
        kill_group(pid, signal.SIGKILL)


def carries(pid: int, marker: str) -> bool:
    """Is process ``pid`` the agent with this marker (``tree_marker``: unique to the hub process and
    step run, so a pid reused by another hub's agent of the same step run number is not taken)?"""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return marker.encode() in environ
