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
from agents.services.pipelines import is_pipeline, pipelines_advance
from agents.wakeup import wait_for_work, wake_runners
from orchestra_site.heartbeat import Heartbeat, fence_after
from orchestra_site.outages import TRANSIENT, Outage, backoff, forget_broken_connection, retry_database

logger = logging.getLogger(__name__)
IDLE_SLEEP = 0.25
FENCE_CHECK_EVERY = 0.5
REAP_EVERY = 5.0


class Runner:
    """One runner per process (``serve`` or ``runagents``), identified by its HubProcess row."""

    def __init__(self, *, hub_process_id: int, stop: threading.Event, heartbeat: Heartbeat) -> None:
        self.hub_process_id = hub_process_id
        self.stop = stop
        self.heartbeat = heartbeat
        self.workers: dict[int, StepWorker] = {}
        self.last_reap = 0.0
        self.outage = Outage(f"runner {hub_process_id}'s cycle")
        self.fenced = False

    def run_forever(self) -> None:
        logger.info("runner %s started", self.hub_process_id)
        retry_database(
            lambda: roots.process_roots_register(
                process_id=self.hub_process_id, roots=roots.served_roots(), runs_agents=True
            ),
            what=self.outage.what,
            give_up=self.stop.is_set,
        )
        threading.Thread(target=self.watch_heartbeat, name=f"fence-{self.hub_process_id}", daemon=True).start()
        failures = 0
        while not self.stop.is_set():
            found = False
            try:
                found = self.run_once()
            except TRANSIENT as error:  # a restarting or unreachable database must not end the runner
                self.outage.failed(error)
                forget_broken_connection()
                failures += 1
            except Exception:
                logger.exception("runner cycle failed; retrying")
                failures += 1
            else:
                self.outage.recovered()
                failures = 0
            finally:
                close_old_connections()
            if not found and not self.stop.is_set():
                # A launch or cancel in this process wakes it early; an outage backs off.
                wait_for_work(backoff(failures) if failures else IDLE_SLEEP)
        self.shutdown()

    def run_once(self) -> bool:
        """One cycle; True when it started something (then the next cycle comes at once).

        DAG runs move first, so a node whose parents just finished is claimed in the same cycle.
        """
        if self.heartbeat.fenced:  # its agents are stopped by ``watch_heartbeat``
            return False
        self.settle_lost_workers()
        if time.monotonic() - self.last_reap > REAP_EVERY:
            self.last_reap = time.monotonic()
            recovery.reap_dead_runners(me=self.hub_process_id)
            executions_fail_stuck()
            roots.step_runs_note_unserved(me=self.hub_process_id, my_roots=roots.served_roots())
        runs_adopt()
        started = dag_runs_advance()
        my_roots = roots.served_roots()
        # A pipeline reads its workspace between phases: advanced by a runner that serves it.
        started += pipelines_advance(within=roots.claimable_executions_q(me=self.hub_process_id, my_roots=my_roots))
        self.stop_cancelled()
        self.forget_finished()
        mine = roots.claimable_q(me=self.hub_process_id, my_roots=my_roots)
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
            in_dag_run = step_run.execution.dag_run_node_id is not None or is_pipeline(step_run.execution)
            worker = StepWorker(
                step_run.pk,
                on_finish=wake_runners if in_dag_run else None,
                runner_stopping=self.stop,
                runner_id=self.hub_process_id,
            )
            self.workers[step_run.pk] = worker
            worker.start()
            started += 1
        return started > 0

    def watch_heartbeat(self) -> None:
        """Fence on a timer of its own: when the network is cut, the loop itself may hang in a
        database call for as long as the cut lasts, and its agents must stop all the same."""
        while not self.stop.wait(FENCE_CHECK_EVERY):
            self.fence()

    def fence(self) -> None:
        """Stop every agent while the heartbeat cannot vouch for them.

        Peers reap a runner whose heartbeat is ``ORCHESTRA_RUNNER_DEAD_AFTER`` old. This runner
        stops its agents at half that (``fence_after``), with a grace short enough that they are
        gone before then, and claims nothing until a beat lands again. A beat that lands after
        such a gap (the process was frozen) stops what still runs too: peers may have reaped it.
        """
        fenced = self.heartbeat.fenced
        if not (fenced or self.heartbeat.lapsed.is_set()):
            if self.fenced:
                logger.warning("runner %s: its heartbeat lands again; it takes work again", self.hub_process_id)
            self.fenced = False
            return
        self.heartbeat.lapsed.clear()
        why = self.heartbeat.outage.reason or "no beat landed"
        reason = (
            f"interrupted: the runner could not renew its heartbeat for {self.heartbeat.age:.0f}s ({why}); "
            "the agent was stopped so that no step runs twice at once"
        )
        grace = fence_after() / 3
        for worker in list(self.workers.values()):
            worker.request_stop(reason, interrupted=True, grace=grace)
            if worker.stop_requested_for() > grace + FENCE_CHECK_EVERY:
                worker.end_agent()  # its worker is stuck (in a database call that hangs): end it from here
        if fenced and not self.fenced:
            logger.warning("runner %s stops its agents and claims nothing: %s", self.hub_process_id, reason)
        self.fenced = fenced

    def stop_cancelled(self) -> None:
        for step_run_id in queue.step_run_ids_to_stop(list(self.workers), runner_id=self.hub_process_id):
            self.workers[step_run_id].request_stop("cancelled")

    def forget_finished(self) -> None:
        for step_run_id in [pk for pk, worker in self.workers.items() if not worker.is_alive() and worker.settled]:
            del self.workers[step_run_id]

    def settle_lost_workers(self) -> None:
        """A worker that ended without writing its step's outcome (it gave up through an outage,
        or died of a bug) is noticed: its agent is ended and its step finished as crashed, which
        frees the slot. Until that write lands the worker stays counted against the cap."""
        for step_run_id, worker in list(self.workers.items()):
            if worker.is_alive() or worker.settled:
                continue
            worker.end_agent()
            recovery.step_run_crash(step_run_id=step_run_id, error="crashed: the hub lost track of its agent")
            del self.workers[step_run_id]

    def shutdown(self) -> None:
        """Stop every agent politely (then kill after the grace period) and record why."""
        for worker in self.workers.values():
            worker.request_stop("interrupted: the hub stopped while the agent ran", interrupted=True)
        for worker in self.workers.values():
            worker.join(timeout=settings.CANCEL_GRACE + 10)
        logger.info("runner %s stopped", self.hub_process_id)
