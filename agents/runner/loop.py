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
from agents.wakeup import wake_runners
from orchestra_site import wakeups
from orchestra_site.heartbeat import Heartbeat, fence_after
from orchestra_site.outages import TRANSIENT, Outage, backoff, forget_broken_connection, retry_database

logger = logging.getLogger(__name__)
FENCE_CHECK_EVERY = 0.5
REAP_EVERY = 5.0
# An idle runner looks at its stop flag this often (``halt()`` wakes it at once); one whose agents
# run also looks whether one of them must stop (its step taken over by a peer).
STOP_CHECK_EVERY = 1.0


class Runner:
    """One runner per process (``serve`` or ``runagents``), identified by its HubProcess row."""

    def __init__(self, *, hub_process_id: int, stop: threading.Event, heartbeat: Heartbeat) -> None:
        self.hub_process_id = hub_process_id
        self.stop = stop
        self.heartbeat = heartbeat
        self.workers: dict[int, StepWorker] = {}
        self.last_reap = 0.0
        self.last_queue_checks = 0.0  # stuck executions failed, unserved steps noted
        self.last_full = 0.0  # the last cycle that looked at everything
        self.outage = Outage(f"runner {hub_process_id}'s cycle")
        self.fenced = False
        self.waiter: wakeups.Waiter | None = None
        # The last cycle left ready steps unclaimed for want of a slot: a freed slot or a raised
        # ``desired`` (a CAPACITY wake-up) is then worth a cycle; otherwise it is not.
        self.wants_capacity = False
        self.next_retry_at: float | None = None  # when a DAG node's retry backoff ends (monotonic)

    def run_forever(self) -> None:
        logger.info("runner %s started", self.hub_process_id)
        retry_database(
            lambda: roots.process_roots_register(
                process_id=self.hub_process_id, roots=roots.served_roots(), runs_agents=True
            ),
            what=self.outage.what,
            give_up=self.stop.is_set,
        )
        with wakeups.listening(wakeups.WORK, wakeups.CAPACITY) as self.waiter:
            threading.Thread(target=self.watch_heartbeat, name=f"fence-{self.hub_process_id}", daemon=True).start()
            failures, full = 0, True
            while not self.stop.is_set():
                found = False
                try:
                    found = self.run_once(full=full)
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
                full = True
                if found or self.stop.is_set():
                    continue
                if failures:  # an outage backs off (a wake-up may end the wait early)
                    self.waiter.wait(backoff(failures))
                else:
                    full = self.sleep_until_needed()
        self.shutdown()

    def halt(self) -> None:
        """Stop the runner: its loop ends now, not at its next look at the stop flag."""
        self.stop.set()
        if self.waiter is not None:
            self.waiter.wake(wakeups.WORK)

    def sleep_until_needed(self) -> bool:
        """Sleep until a wake-up says there may be work, or a duty of the runner's own falls due:
        a DAG node's retry, the safety timeout (a lost wake-up), or reaping dead peers. True when
        the next cycle must look at everything; False when only the reaping is due."""
        assert self.waiter is not None
        deadline = self.last_full + settings.WAKEUP_TIMEOUT  # a reaping tick does not move it
        while not self.stop.is_set():
            now = time.monotonic()
            full_due = min(deadline, self.next_retry_at or deadline)
            if full_due <= now:
                return True
            if self.last_reap + REAP_EVERY <= now:
                return False
            woken = self.waiter.wait(min(full_due - now, self.last_reap + REAP_EVERY - now, STOP_CHECK_EVERY))
            if wakeups.WORK in woken or (wakeups.CAPACITY in woken and self.wants_capacity):
                return True
            if self.workers and not woken:
                return False  # agents run: look every STOP_CHECK_EVERY whether one must stop
        return True

    def run_once(self, *, full: bool = True) -> bool:
        """One cycle; True when it started something (then the next cycle comes at once).

        DAG runs move first, so a node whose parents just finished is claimed in the same cycle.
        Without ``full`` (an idle runner's reaping tick) it only reaps, and goes on to the rest
        only if it reaped something.
        """
        if self.heartbeat.fenced:  # its agents are stopped by ``watch_heartbeat``
            return False
        self.settle_lost_workers()
        if time.monotonic() - self.last_reap >= REAP_EVERY:
            self.last_reap = time.monotonic()
            full = recovery.reap_dead_runners(me=self.hub_process_id) > 0 or full
        if full and time.monotonic() - self.last_queue_checks >= REAP_EVERY:
            self.last_queue_checks = time.monotonic()
            executions_fail_stuck()
            roots.step_runs_note_unserved(me=self.hub_process_id, my_roots=roots.served_roots())
        if not full:
            # A step a peer took over (or one ended behind the runner's back) stops within a second.
            self.stop_cancelled()
            self.forget_finished()
            return False
        self.last_full = time.monotonic()
        runs_adopt()
        started = dag_runs_advance()
        my_roots = roots.served_roots()
        # A pipeline reads its workspace between phases: advanced by a runner that serves it.
        started += pipelines_advance(within=roots.claimable_executions_q(me=self.hub_process_id, my_roots=my_roots))
        retry_in = queue.next_retry_in()
        self.next_retry_at = None if retry_in is None else time.monotonic() + retry_in
        self.stop_cancelled()
        self.forget_finished()
        mine = roots.claimable_q(me=self.hub_process_id, my_roots=my_roots)
        # A workspace that refused a step stays skipped for this cycle, even if a slot frees
        # meanwhile, so its steps start in the order they became ready.
        refused: set[str] = set()
        self.wants_capacity = False
        for step_run in queue.ready_step_runs(limit=settings.MAX_RUNNING * 2, within=mine):
            if len(self.workers) >= settings.MAX_RUNNING or self.stop.is_set():
                self.wants_capacity = True
                break
            workspace = step_run.execution.workspace_path
            if workspace in refused:
                continue
            if not step_run_claim(step_run=step_run, runner_id=self.hub_process_id):
                refused.add(workspace)
                self.wants_capacity = True
                continue
            # A DAG run's next nodes wait for this one: move on as soon as it ends. Other steps
            # leave the freed slot to every runner alike (step_run_finish wakes them all through
            # the database), so runners share the work; a worker that ends without settling its
            # step wakes this runner, which settles it.
            in_dag_run = step_run.execution.dag_run_node_id is not None or is_pipeline(step_run.execution)
            worker = StepWorker(
                step_run.pk,
                on_finish=wake_runners if in_dag_run else self.worker_ended,
                runner_stopping=self.stop,
                runner_id=self.hub_process_id,
            )
            self.workers[step_run.pk] = worker
            worker.start()
            started += 1
        return started > 0

    def worker_ended(self) -> None:
        if self.waiter is not None and any(not w.settled and not w.is_alive() for w in self.workers.values()):
            self.waiter.wake(wakeups.WORK)

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
            self.unfence()
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
        if fenced:
            self.fenced = True
        else:
            self.unfence()

    def unfence(self) -> None:
        """Claim again; a cycle comes at once, for what arrived while the runner claimed nothing."""
        if self.fenced and self.waiter is not None:
            self.waiter.wake(wakeups.WORK)
        self.fenced = False

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
