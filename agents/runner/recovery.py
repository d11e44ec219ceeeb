"""Nothing stays "running" forever: dead runners are reaped, restarted ones end their orphans."""

from __future__ import annotations

import logging
import os
import signal
import socket
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from agents.environment import STEP_RUN_ENV
from agents.models import StepRun, StepRunStatus
from agents.runner.process import kill_group
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


def dead_runner_ids(*, me: int | None) -> list[int]:
    """Runners that stopped, missed their heartbeat, or (on this host) whose process is gone."""
    cutoff = timezone.now() - timedelta(seconds=settings.RUNNER_DEAD_AFTER)
    holding = Q(step_runs__status=StepRunStatus.RUNNING) | Q(step_runs__slot_path__isnull=False)
    busy = HubProcess.objects.filter(holding).distinct()
    if me is not None:
        busy = busy.exclude(pk=me)
    dead = []
    for runner in busy:
        gone_here = runner.hostname == socket.gethostname() and not pid_alive(runner.pid)
        if runner.stopped_at is not None or runner.heartbeat_at < cutoff or gone_here:
            dead.append(runner.pk)
    return dead


def reap_dead_runners(*, me: int | None) -> int:
    """Mark the running steps of dead runners failed as crashed and free their slots."""
    dead = dead_runner_ids(me=me)
    orphaned = StepRun.objects.filter(Q(runner_id__in=dead) | Q(runner__isnull=True), status=StepRunStatus.RUNNING)
    crashed = _crash(list(orphaned.select_related("runner")))
    # A step cancelled while its runner was dying is no longer running but may still hold a slot.
    for step_run_id in StepRun.objects.filter(runner_id__in=dead, slot_path__isnull=False).values_list("pk", flat=True):
        release_slot(step_run_id)
    return crashed


def recover_after_hub_restart() -> int:
    """The whole hub restarted (no live peer): every step still marked running has crashed."""
    return _crash(list(StepRun.objects.filter(status=StepRunStatus.RUNNING).select_related("runner")))


def _crash(step_runs: list[StepRun]) -> int:
    for step_run in step_runs:
        runner = step_run.runner
        if runner is not None and runner.hostname == socket.gethostname():
            end_orphan(step_run)
        where = f"{runner.hostname}:{runner.pid}" if runner else "an unknown runner"
        step_run_finish(
            step_run_id=step_run.pk,
            outcome=StepOutcome(
                status="failed",
                crashed=True,
                error=f"crashed: the runner {where} stopped while the agent ran; its result is unknown",
            ),
        )
        logger.warning("step run %s marked crashed (runner %s)", step_run.pk, where)
    return len(step_runs)


def end_orphan(step_run: StepRun) -> None:
    """Kill the agent a dead runner left on this host, if that pid is really ours."""
    if step_run.pid and is_our_agent(step_run.pid, step_run.pk):
        kill_group(step_run.pid, signal.SIGKILL)


def is_our_agent(pid: int, step_run_id: int) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{STEP_RUN_ENV}={step_run_id}".encode() in environ
