"""One claimed step run, from launch to its written-back outcome, in its own thread."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import close_old_connections, connection

from agents import budgets, logs
from agents.adapters import AgentEvent
from agents.adapters.base import Adapter
from agents.deltas import DeltaSender, delta_frame
from agents.environment import positive_seconds
from agents.models import Execution, StepRun, StepRunStatus
from agents.prompts import substitute_step_outputs
from agents.runner.launching import build_launch
from agents.runner.process import AgentProcess
from agents.services import worktrees
from agents.services.attempts import discarded_worktree_remove
from agents.services.lifecycle import StepOutcome, step_run_finish, step_run_record_pid
from agents.workdirs import execution_cwd
from orchestra_site.api.exceptions import HubError
from orchestra_site.outages import TRANSIENT, Outage, backoff, retry_database
from projects.workspaces import pinned_folder

logger = logging.getLogger(__name__)
STDERR_TAIL = 20
STDERR_LINE_MAX = 2000  # characters of a stderr line kept for the error message
T = TypeVar("T")
LINE_COST = 200  # bytes a stored line costs beyond its text (its log row), charged against the output cap


class StepWorker(threading.Thread):
    """Runs the agent of one step run. ``stop_reason`` is set by the runner to end it early."""

    def __init__(
        self,
        step_run_id: int,
        *,
        on_finish: Callable[[], None] | None = None,
        runner_stopping: threading.Event | None = None,
        runner_id: int | None = None,
    ) -> None:
        super().__init__(name=f"step-run-{step_run_id}", daemon=True)
        self.step_run_id = step_run_id
        self.stop_reason: str | None = None
        self.stop_grace: float | None = None  # None: ORCHESTRA_CANCEL_GRACE
        self.stop_requested_at: float | None = None
        self.runner_id = runner_id
        self.interrupted = False  # stopped by the hub itself, not the agent's fault: marked crashed
        self.on_finish = on_finish
        self.runner_stopping = runner_stopping or threading.Event()
        self.process: AgentProcess | None = None
        self.settled = False  # the step's outcome is written (or was never this worker's to write)
        self.outage = Outage(f"the database writes of step run {step_run_id}")
        self.lines_read = 0
        self.budget_limit: float | None = None  # USD this agent may spend (agents/budgets.py)
        self.budget_source = ""
        self.over_budget = False
        self.session_id: str | None = None  # as the CLI announced it, kept even if it never prints a result

    def request_stop(self, reason: str, *, interrupted: bool = False, grace: float | None = None) -> None:
        if self.stop_reason is None:
            self.interrupted = interrupted
        if grace is not None:
            self.stop_grace = grace if self.stop_grace is None else min(grace, self.stop_grace)
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
        self.stop_reason = self.stop_reason or reason

    def stop_requested_for(self) -> float:
        """Seconds since the runner first asked this worker to stop (0 if it has not)."""
        return 0.0 if self.stop_requested_at is None else time.monotonic() - self.stop_requested_at

    def run(self) -> None:
        try:
            self.run_step()
        except TRANSIENT as error:  # the runner settles the step (``Runner.settle_lost_workers``) or a restart does
            logger.warning("step run %s: its outcome could not be written (%s)", self.step_run_id, error)
        except Exception as exc:  # a bug must not leave the step "running" nor its agent unwatched
            logger.exception("step run %s failed inside the hub", self.step_run_id)
            self.end_agent()
            outcome = StepOutcome(status="failed", error=f"hub error: {exc}")
            try:
                self.write(
                    lambda: step_run_finish(step_run_id=self.step_run_id, outcome=outcome, runner_id=self.runner_id)
                )
                self.settled = True
            except TRANSIENT:
                logger.warning("step run %s left unsettled: the database is unreachable", self.step_run_id)
        finally:
            self.end_agent()  # nothing an agent started outlives the worker that watched it
            self.remove_discarded_worktree()
            connection.close()
            if self.on_finish is not None:
                self.on_finish()

    def remove_discarded_worktree(self) -> None:
        """A best-of-N attempt discarded while its agent ran: its worktree goes now that the agent has."""
        try:
            discarded_worktree_remove(step_run_id=self.step_run_id)
        except Exception:  # the discard stands; a worktree left behind is only disk
            logger.exception("step run %s: the worktree of its discarded execution was not removed", self.step_run_id)

    def write(self, change: Callable[[], T]) -> T:
        """A database write of this step, retried through outages: the agent's result is kept
        until it lands. Given up only when the runner stops (a restart settles the step)."""
        return retry_database(change, what=self.outage.what, give_up=self.runner_stopping.is_set, outage=self.outage)

    def end_agent(self) -> None:
        """End the agent now if it still runs (its whole tree: ``AgentProcess.stop``). One that
        ended was already cleaned up after by ``supervise``."""
        if self.process is not None and self.process.poll() is None:
            self.process.stop(grace=0)

    def run_step(self) -> None:
        step_run = self.write(lambda: StepRun.objects.select_related("execution").get(pk=self.step_run_id))
        mine = (StepRunStatus.RUNNING, self.runner_id)
        if self.runner_id is not None and (step_run.status, step_run.runner_id) != mine:
            # Claimed before a cut that outlasted the dead-after time: a peer took it over meanwhile.
            logger.warning("step run %s is no longer this runner's; its agent is not started", step_run.pk)
            self.settled = True
            return
        execution = step_run.execution
        writer = logs.LogWriter(execution_id=execution.pk, step_run_id=step_run.pk)
        writer.add(
            logs.step_start_frame(
                execution_id=execution.pk, step_id=step_run.step_id, step_run_id=step_run.pk, step_name=step_run.name
            )
        )
        frozen = step_run.settings or {}
        self.budget_limit, self.budget_source = self.write(
            lambda: budgets.starting_limit(
                step_budget=frozen.get("max_budget_usd"), workspace_path=execution.workspace_path
            )
        )
        if self.budget_limit is not None and self.budget_limit <= 0:
            error = f"budget exceeded: nothing is left of {self.budget_source}; the agent was not started"
            self.finish(step_run, writer, StepOutcome(status=StepRunStatus.BUDGET_EXCEEDED, error=error))
            return
        try:
            cwd = execution_cwd(execution)
            adapter, argv, env, stdin = build_launch(
                agent_type=step_run.agent_type,
                prompt=step_run.prompt if step_run.is_message else run_time_prompt(step_run),
                step_settings={**frozen, "max_budget_usd": self.budget_limit},
                cwd=cwd,
                step_run_id=step_run.pk,
                resume_session=step_run.resume_session_id,
            )
            with pinned_folder(cwd) as folder:  # no link swapped in since the check can move the agent
                process = AgentProcess(argv, cwd=folder, env=env, stdin=stdin)
        except (HubError, OSError) as exc:
            detail = exc.detail if isinstance(exc, HubError) else f"could not start the agent: {exc}"
            self.finish(step_run, writer, StepOutcome(status="failed", error=detail))
            return
        self.process = process
        self.write(lambda: step_run_record_pid(step_run_id=step_run.pk, pid=process.pid))
        outcome = self.supervise(step_run, adapter, process, writer)
        if execution.worktree_path:
            try:  # the agent's work is committed on its branch (agents.services.worktrees)
                worktrees.worktree_after_step(
                    execution_id=execution.pk, step_name=step_run.name, agent_type=step_run.agent_type
                )
            except Exception:
                logger.exception("execution %s: the step's work was not committed", execution.pk)
        self.finish(step_run, writer, outcome)

    def supervise(
        self, step_run: StepRun, adapter: Adapter, process: AgentProcess, writer: logs.LogWriter
    ) -> StepOutcome:
        timeout = step_limit(step_run, "timeout_seconds", settings.STEP_TIMEOUT)
        idle_limit = step_limit(step_run, "idle_timeout_seconds", settings.STEP_IDLE_TIMEOUT)
        deadline = time.monotonic() + timeout
        self.last_output = time.monotonic()
        kept: list[AgentEvent] = []
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        exited_at: float | None = None
        while not (process.output_closed and process.poll() is not None):
            self.pump(step_run, adapter, process, writer, kept, stderr_tail)
            self.check_budget(kept)
            if exited_at is None and process.poll() is not None:
                exited_at = time.monotonic()
            if exited_at is not None and time.monotonic() - exited_at > 2:
                break  # the agent exited but something it started still holds its output open
            if self.stop_reason is None and time.monotonic() > deadline:
                self.stop_reason = f"timed out after {int(timeout)}s; the agent was stopped"
            if self.stop_reason is None and exited_at is None and time.monotonic() - self.last_output > idle_limit:
                self.stop_reason = (
                    f"no output for {int(idle_limit)}s (the idle limit, ORCHESTRA_STEP_IDLE_TIMEOUT or the step's "
                    "idle_timeout_seconds); the agent was stopped"
                )
            if self.stop_reason is not None:
                process.stop(grace=settings.CANCEL_GRACE if self.stop_grace is None else self.stop_grace)
                break
        exit_code = process.wait()
        process.kill_tree()  # nothing the agent started outlives it, setsid descendants included
        while not process.output_closed:
            self.pump(step_run, adapter, process, writer, kept, stderr_tail, wait=0.5)
        held = adapter.flush()  # a message whose end the CLI never printed
        kept.extend(event for event in held if event["kind"] == "text")
        for event in held:
            writer.add(
                logs.output_frame(
                    execution_id=step_run.execution_id,
                    step_id=step_run.step_id,
                    step_run_id=step_run.pk,
                    data=logs.render_event(event),
                    event=dict(event),
                )
            )
        writer.flush()
        outcome = outcome_of(adapter, kept, exit_code, self.stop_reason, stderr_tail)
        if outcome.session_id is None and self.session_id is not None:
            # A stopped or failed agent can still be continued with a follow-up message.
            outcome = dataclasses.replace(outcome, session_id=str(self.session_id)[:255])
        if self.interrupted:
            return dataclasses.replace(outcome, crashed=True)
        self.check_budget(kept)
        if self.over_budget and (self.stop_reason is None or self.stop_reason.startswith("budget exceeded")):
            message = budgets.over_budget_message(
                spent=budgets.reported_cost(kept), limit=self.budget_limit or 0.0, source=self.budget_source
            )
            return dataclasses.replace(outcome, status=StepRunStatus.BUDGET_EXCEEDED, error=message)
        return outcome

    def check_budget(self, kept: list[AgentEvent]) -> None:
        """Stop the agent once the cost it reported passes its limit (or its CLI stopped itself there)."""
        if self.budget_limit is None or self.over_budget:
            return
        spent = budgets.reported_cost(kept)
        if budgets.stopped_by_its_cli(kept) or (spent is not None and spent > self.budget_limit):
            self.over_budget = True
            self.request_stop(
                budgets.over_budget_message(spent=spent, limit=self.budget_limit, source=self.budget_source)
            )

    def pump(
        self,
        step_run: StepRun,
        adapter: Adapter,
        process: AgentProcess,
        writer: logs.LogWriter,
        kept: list[AgentEvent],
        stderr_tail: deque[str],
        wait: float = 0.2,
    ) -> None:
        execution_id, step_id = step_run.execution_id, step_run.step_id
        output_max = settings.AGENT_OUTPUT_MAX_BYTES
        deltas = DeltaSender(writer)
        for line in process.read(timeout=wait):
            self.last_output = time.monotonic()
            self.lines_read += 1
            # Each line is charged what storing it costs beyond its text, so a flood of tiny lines
            # meets the cap as surely as a few long ones.
            if process.taken + LINE_COST * self.lines_read > output_max:
                # Past the step's cap nothing more is stored or kept in memory, and the agent ends.
                process.discard()
                self.request_stop(
                    f"printed more than {output_max} bytes (ORCHESTRA_AGENT_OUTPUT_MAX_BYTES); the agent was stopped"
                )
                continue
            shown: list[tuple[str, dict[str, object]]]
            if line.stream == "stderr":
                if not line.text.strip():
                    continue  # a blank stderr line shows nothing: not worth a stored row
                stderr_tail.append(line.text.rstrip()[:STDERR_LINE_MAX])
                shown = [(line.text, {"kind": "stderr", "text": line.text.rstrip("\n")})]
            else:
                events = adapter.parse_line(line.text)
                kept.extend(event for event in events if event["kind"] in ("text", "result"))
                self.session_id = next((e["session_id"] for e in events if e.get("session_id")), self.session_id)
                shown = [(logs.render_event(event), dict(event)) for event in events]
            for data, event_fields in shown:
                if event_fields.get("kind") == "delta":
                    text = str(event_fields.get("text") or "")
                    deltas.add(
                        delta_frame(execution_id=execution_id, step_id=step_id, step_run_id=step_run.pk, text=text)
                    )
                    continue
                deltas.send()
                if line.cut:
                    event_fields["cut_bytes"] = line.cut
                writer.add(
                    logs.output_frame(
                        execution_id=execution_id,
                        step_id=step_id,
                        step_run_id=step_run.pk,
                        data=data,
                        event=event_fields,
                    )
                )
            if process.lines.empty():
                deltas.send()  # nothing more has come yet: what the model wrote goes out now, not with the batch
        deltas.send()
        # The frames are written by the process's shared flusher (``agents.log_flusher``), not here.
        # Give a pooled PostgreSQL connection back between reads (a no-op on SQLite): a worker holds
        # none while its agent works, so eight agents never starve the heartbeat or the API of the pool.
        close_old_connections()

    def finish(self, step_run: StepRun, writer: logs.LogWriter, outcome: StepOutcome) -> None:
        writer.flush()
        done = self.write(lambda: step_run_finish(step_run_id=step_run.pk, outcome=outcome, runner_id=self.runner_id))
        self.settled = True
        if self.runner_id is not None and done.runner_id != self.runner_id:
            return  # taken over by a peer: how the step ends is its runner's to say
        writer.add(
            logs.step_complete_frame(
                execution_id=done.execution_id,
                step_id=done.step_id,
                step_run_id=done.pk,
                step_name=done.name,
                success=done.status == "completed",
                output=done.output,
                error=done.error,
            )
        )
        execution = self.write(lambda: Execution.objects.get(pk=done.execution_id))
        if execution.is_finished:
            writer.add(logs.status_frame(execution_id=execution.pk, status=execution.status, error=execution.error))
        while not writer.flush() and not self.runner_stopping.is_set():
            time.sleep(backoff(1, first=0.5))  # the last frames too: the terminal shows how it ended


def outcome_of(
    adapter: Adapter, kept: list[AgentEvent], exit_code: int, stop_reason: str | None, stderr_tail: deque[str]
) -> StepOutcome:
    result = adapter.final_result(kept)
    if result is not None:
        result = logs.storable(result)  # the answer is stored too: no NUL, no lone surrogate
    stderr_tail = deque(logs.storable(list(stderr_tail)))
    numbers = {}
    if result is not None:
        numbers = {
            "input_tokens": result.get("input_tokens"),
            "output_tokens": result.get("output_tokens"),
            "cost_usd": budgets.reported_cost([result]),  # priced from its tokens when the CLI reports no cost
            "duration_ms": result.get("duration_ms"),
            "session_id": result.get("session_id"),
        }
    if stop_reason is not None:
        return StepOutcome(status="failed", error=stop_reason, exit_code=exit_code, **numbers)
    if exit_code == 0 and result is not None and not result.get("is_error"):
        return StepOutcome(status="completed", output=result["text"], exit_code=exit_code, **numbers)
    detail = result["text"] if result is not None and result.get("is_error") else "\n".join(stderr_tail)
    return StepOutcome(
        status="failed",
        output=result["text"] if result is not None else None,
        error=f"the agent failed (exit code {exit_code}): {detail}".strip(),
        exit_code=exit_code,
        **numbers,
    )


def step_limit(step_run: StepRun, key: str, default: float) -> float:
    """A time limit from the step run's frozen settings, else the hub's setting."""
    return positive_seconds((step_run.settings or {}).get(key)) or float(default)


def run_time_prompt(step_run: StepRun) -> str:
    """Fill ``{{Upstream Step Name}}`` with the parents' outputs and ``{{context.*}}``."""
    outputs = {parent.name: parent.output or "" for parent in step_run.parents.all()}
    return substitute_step_outputs(step_run.prompt, outputs, step_run.execution.context)
