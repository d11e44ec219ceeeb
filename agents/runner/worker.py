"""One claimed step run, from launch to its written-back outcome, in its own thread."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

from agents import logs
from agents.adapters import AgentEvent
from agents.adapters.base import Adapter
from agents.environment import positive_seconds
from agents.models import Execution, StepRun
from agents.prompts import substitute_step_outputs
from agents.runner.launching import build_launch
from agents.runner.process import AgentProcess, kill_group
from agents.services.lifecycle import StepOutcome, step_run_finish, step_run_record_pid
from orchestra_site.api.exceptions import HubError, InvalidInput
from projects.workspaces import make_workspace_dir, validate_workspace_path, validate_worktree_path

logger = logging.getLogger(__name__)
_worktree_lock = threading.Lock()
STDERR_TAIL = 20


class StepWorker(threading.Thread):
    """Runs the agent of one step run. ``stop_reason`` is set by the runner to end it early."""

    def __init__(self, step_run_id: int, *, on_finish: Callable[[], None] | None = None) -> None:
        super().__init__(name=f"step-run-{step_run_id}", daemon=True)
        self.step_run_id = step_run_id
        self.stop_reason: str | None = None
        self.interrupted = False  # stopped by the hub itself, not the agent's fault: marked crashed
        self.on_finish = on_finish

    def request_stop(self, reason: str, *, interrupted: bool = False) -> None:
        if self.stop_reason is None:
            self.interrupted = interrupted
        self.stop_reason = self.stop_reason or reason

    def run(self) -> None:
        try:
            self.run_step()
        except Exception as exc:  # a bug or a lost database must not leave the step "running"
            logger.exception("step run %s failed inside the hub", self.step_run_id)
            step_run_finish(
                step_run_id=self.step_run_id, outcome=StepOutcome(status="failed", error=f"hub error: {exc}")
            )
        finally:
            connection.close()
            if self.on_finish is not None:
                self.on_finish()

    def run_step(self) -> None:
        step_run = StepRun.objects.select_related("execution").get(pk=self.step_run_id)
        execution = step_run.execution
        writer = logs.LogWriter(execution_id=execution.pk, step_run_id=step_run.pk)
        writer.add(
            logs.step_start_frame(
                execution_id=execution.pk, step_id=step_run.step_id, step_run_id=step_run.pk, step_name=step_run.name
            )
        )
        try:
            cwd = execution_cwd(execution)
            adapter, argv, env = build_launch(
                agent_type=step_run.agent_type,
                prompt=run_time_prompt(step_run),
                step_settings=step_run.settings or {},
                cwd=cwd,
                step_run_id=step_run.pk,
            )
            process = AgentProcess(argv, cwd=cwd, env=env)
        except (HubError, OSError) as exc:
            detail = exc.detail if isinstance(exc, HubError) else f"could not start the agent: {exc}"
            self.finish(step_run, writer, StepOutcome(status="failed", error=detail))
            return
        step_run_record_pid(step_run_id=step_run.pk, pid=process.pid)
        outcome = self.supervise(step_run, adapter, process, writer)
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
                process.stop(grace=settings.CANCEL_GRACE)
                break
        exit_code = process.wait()
        kill_group(process.pid, 9)  # nothing the agent started outlives it
        while not process.output_closed:
            self.pump(step_run, adapter, process, writer, kept, stderr_tail, wait=0.5)
        writer.flush()
        outcome = outcome_of(adapter, kept, exit_code, self.stop_reason, stderr_tail)
        return dataclasses.replace(outcome, crashed=True) if self.interrupted else outcome

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
        for stream, line in process.read(timeout=wait):
            self.last_output = time.monotonic()
            if stream == "stderr":
                stderr_tail.append(line.rstrip())
                stderr_event = {"kind": "stderr", "text": line.rstrip("\n"), "raw": line.rstrip("\n")}
                writer.add(
                    logs.output_frame(
                        execution_id=execution_id,
                        step_id=step_id,
                        step_run_id=step_run.pk,
                        data=line,
                        event=stderr_event,
                    )
                )
                continue
            for event in adapter.parse_line(line):
                if event["kind"] in ("text", "result"):
                    kept.append(event)
                writer.add(
                    logs.output_frame(
                        execution_id=execution_id,
                        step_id=step_id,
                        step_run_id=step_run.pk,
                        data=logs.render_event(event),
                        event=dict(event),
                    )
                )
        writer.flush()

    def finish(self, step_run: StepRun, writer: logs.LogWriter, outcome: StepOutcome) -> None:
        writer.flush()
        done = step_run_finish(step_run_id=step_run.pk, outcome=outcome)
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
        execution = Execution.objects.get(pk=done.execution_id)
        if execution.is_finished:
            writer.add(logs.status_frame(execution_id=execution.pk, status=execution.status, error=execution.error))
        writer.flush()


def outcome_of(
    adapter: Adapter, kept: list[AgentEvent], exit_code: int, stop_reason: str | None, stderr_tail: deque[str]
) -> StepOutcome:
    result = adapter.final_result(kept)
    numbers = {}
    if result is not None:
        numbers = {
            "input_tokens": result.get("input_tokens"),
            "output_tokens": result.get("output_tokens"),
            "cost_usd": result.get("cost_usd"),
            "duration_ms": result.get("duration_ms"),
            "session_id": result.get("session_id"),
        }
    if stop_reason is not None:
        return StepOutcome(status="failed", error=stop_reason, exit_code=exit_code, **numbers)  # type: ignore[arg-type]
    if exit_code == 0 and result is not None and not result.get("is_error"):
        return StepOutcome(status="completed", output=result["text"], exit_code=exit_code, **numbers)  # type: ignore[arg-type]
    detail = result["text"] if result is not None and result.get("is_error") else "\n".join(stderr_tail)
    return StepOutcome(
        status="failed",
        output=result["text"] if result is not None else None,
        error=f"the agent failed (exit code {exit_code}): {detail}".strip(),
        exit_code=exit_code,
        **numbers,  # type: ignore[arg-type]
    )


def step_limit(step_run: StepRun, key: str, default: float) -> float:
    """A time limit from the step run's frozen settings, else the hub's setting."""
    return positive_seconds((step_run.settings or {}).get(key)) or float(default)


def run_time_prompt(step_run: StepRun) -> str:
    """Fill ``{{Upstream Step Name}}`` with the parents' outputs and ``{{context.*}}``."""
    outputs = {parent.name: parent.output or "" for parent in step_run.parents.all()}
    return substitute_step_outputs(step_run.prompt, outputs, step_run.execution.context)


def execution_cwd(execution: Execution) -> Path:
    """The workspace, or the execution's git worktree (created by the first step that needs it).

    Both are checked again here, symlinks resolved, whatever was checked when they were written:
    a row written before the rules, or a folder replaced by a link since, fails the step.
    """
    workspace = validate_workspace_path(execution.workspace_path, project_id=execution.project_id)
    make_workspace_dir(workspace)
    if not execution.worktree_path:
        return workspace
    path = validate_worktree_path(execution.worktree_path)
    with _worktree_lock:
        if not path.exists():
            create_worktree(
                repository=workspace, path=path, branch=execution.worktree_branch or f"agent/exec-{execution.pk}"
            )
    return path


def create_worktree(*, repository: Path, path: Path, branch: str) -> None:
    git = ["git", "-C", str(repository)]
    if subprocess.run([*git, "rev-parse", "--git-dir"], capture_output=True).returncode != 0:
        raise InvalidInput(f"create_worktree: {repository} is not a git repository")
    path.parent.mkdir(parents=True, exist_ok=True)
    branch_exists = subprocess.run(
        [*git, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], capture_output=True
    )
    args = (
        ["worktree", "add", str(path), branch]
        if branch_exists.returncode == 0
        else ["worktree", "add", "-b", branch, str(path)]
    )
    done = subprocess.run([*git, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise InvalidInput(f"create_worktree: git worktree add failed: {done.stderr.strip()}")
