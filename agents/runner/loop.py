"""The runner: claim ready steps under the setpoints, start workers, stop the cancelled ones."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from agents.runner import queue, recovery, roots
from agents.runner.worker import StepWorker
from agents.services.lifecycle import dag_runs_advance, executions_fail_stuck, runs_adopt, step_run_claim
from agents.wakeup import wait_for_work, wake_runners

logger = logging.getLogger(__name__)
IDLE_SLEEP = 0.25
REAP_EVERY = 5.0


class Runner:
    """One runner per process (``serve`` or ``runagents``), identified by its HubProcess row."""

    def __init__(self, *, hub_process_id: int, stop: threading.Event) -> None:
        self.hub_process_id = hub_process_id
        self.stop = stop
        self.workers: dict[int, StepWorker] = {}
        self.last_reap = 0.0

    def run_forever(self) -> None:
        logger.info("runner %s started", self.hub_process_id)
        roots.process_roots_register(process_id=self.hub_process_id, roots=roots.served_roots(), runs_agents=True)
        while not self.stop.is_set():
            try:
                found = self.run_once()
            except Exception:  # a locked or restarting database must not end the runner
                logger.exception("runner cycle failed; retrying")
                found = False
            finally:
                close_old_connections()
            if not found and not self.stop.is_set():
                wait_for_work(IDLE_SLEEP)  # a launch or cancel in this process wakes it early
        self.shutdown()

    def run_once(self) -> bool:
        """One cycle; True when it started something (then the next cycle comes at once).

        DAG runs move first, so a node whose parents just finished is claimed in the same cycle.
        """
        if time.monotonic() - self.last_reap > REAP_EVERY:
            self.last_reap = time.monotonic()
            recovery.reap_dead_runners(me=self.hub_process_id)
            executions_fail_stuck()
            roots.step_runs_note_unserved(me=self.hub_process_id, my_roots=roots.served_roots())
        runs_adopt()
        started = dag_runs_advance()
        self.stop_cancelled()
        self.forget_finished()
        mine = roots.claimable_q(me=self.hub_process_id, my_roots=roots.served_roots())
        # A workspace that refused a step stays skipped for this cycle, even if a slot frees
        # meanwhile, so its steps start in the order they became ready.
        refused: set[str] = set()
        for step_run in queue.ready_step_runs(limit=settings.MAX_RUNNING * 2, within=mine):
            if len(self.workers) >= settings.MAX_RUNNING or self.stop.is_set():
                break
            workspace = step_run.execution.workspace_path
            if workspace in refused:
                continue
            if not step_run_claim(step_run=step_run, runner_id=self.hub_process_id):
                refused.add(workspace)
                continue
            # A DAG run's next nodes wait for this one: move on as soon as it ends. Other steps
            # leave the freed slot to whichever runner polls first, so runners share the work.
            in_dag_run = step_run.execution.dag_run_node_id is not None
            worker = StepWorker(step_run.pk, on_finish=wake_runners if in_dag_run else None)
            self.workers[step_run.pk] = worker
            worker.start()
            started += 1
        return started > 0

    def stop_cancelled(self) -> None:
        for step_run_id in queue.cancelled_step_run_ids(list(self.workers)):
            self.workers[step_run_id].request_stop("cancelled")

    def forget_finished(self) -> None:
        for step_run_id in [pk for pk, worker in self.workers.items() if not worker.is_alive()]:
            del self.workers[step_run_id]

    def shutdown(self) -> None:
        """Stop every agent politely (then kill after the grace period) and record why."""
        for worker in self.workers.values():
            worker.request_stop("interrupted: the hub stopped while the agent ran", interrupted=True)
        for worker in self.workers.values():
            worker.join(timeout=settings.CANCEL_GRACE + 10)
        logger.info("runner %s stopped", self.hub_process_id)
