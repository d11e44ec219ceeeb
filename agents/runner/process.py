"""One agent CLI as a child process in its own process group, with both pipes drained.

``AgentProcess`` is the one way the hub starts a CLI: the runner's workers stream its lines, and
``run_to_completion`` (the planner) collects them until it ends or its time is up.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Stream = Literal["stdout", "stderr"]
_EOF = object()


class AgentProcess:
    """Start ``argv`` (never through a shell) and yield its output lines as they come.

    stdin is closed (codex waits for input otherwise). Both pipes are read by their own thread,
    so a child that writes a lot to stderr never blocks; lines may be of any length.
    """

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str]) -> None:
        self.lines: queue.Queue[tuple[Stream, str] | object] = queue.Queue()
        self.popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: cancel reaches every descendant
        )
        self.pid = self.popen.pid
        self._open_streams = 2
        for name, pipe in (("stdout", self.popen.stdout), ("stderr", self.popen.stderr)):
            threading.Thread(
                target=self._drain, args=(name, pipe), daemon=True, name=f"agent-{self.pid}-{name}"
            ).start()

    def _drain(self, name: Stream, pipe: object) -> None:
        try:
            for raw in iter(pipe.readline, b""):  # type: ignore[attr-defined]
                self.lines.put((name, raw.decode("utf-8", errors="replace")))
        finally:
            self.lines.put(_EOF)

    def read(self, timeout: float) -> Iterator[tuple[Stream, str]]:
        """Lines that arrive within ``timeout`` seconds (stops early once both pipes close)."""
        deadline = time.monotonic() + timeout
        while self._open_streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                item = self.lines.get(timeout=remaining)
            except queue.Empty:
                return
            if item is _EOF:
                self._open_streams -= 1
                continue
            yield item  # type: ignore[misc]

    @property
    def output_closed(self) -> bool:
        return self._open_streams == 0

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def stop(self, *, grace: float) -> int:
        """SIGTERM the whole group, then SIGKILL it after ``grace`` seconds; return the exit code."""
        kill_group(self.pid, signal.SIGTERM)
        try:
            return self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            kill_group(self.pid, signal.SIGKILL)
            return self.popen.wait()
        finally:
            # Descendants that outlived the leader are ended too.
            kill_group(self.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Completed:
    exit_code: int
    stdout: list[str]  # lines, each with its newline
    stderr: str
    timed_out: bool


def run_to_completion(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> Completed:
    """Run ``argv`` as an ``AgentProcess`` until it exits and its pipes close, or ``timeout`` seconds
    pass (then its whole group is killed). Nothing it started outlives it either way."""
    process = AgentProcess(argv, cwd=cwd, env=env)
    deadline = time.monotonic() + timeout
    stdout: list[str] = []
    stderr: list[str] = []
    timed_out = False
    try:
        while not process.output_closed and not timed_out:
            remaining = deadline - time.monotonic()
            timed_out = remaining <= 0
            for stream, line in process.read(timeout=max(remaining, 0.0)):
                (stdout if stream == "stdout" else stderr).append(line)
        if not timed_out:
            try:
                exit_code = process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                timed_out = True
        if timed_out:
            exit_code = process.stop(grace=0)
    finally:
        kill_group(process.pid, signal.SIGKILL)
    return Completed(exit_code=exit_code, stdout=stdout, stderr="".join(stderr), timed_out=timed_out)


def kill_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
