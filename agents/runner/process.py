"""One agent CLI as a child process in its own process group, with both pipes drained.

``AgentProcess`` is the one way the hub starts a CLI: the runner's workers stream its lines, and
``run_to_completion`` (the planner) collects them until it ends or its time is up.

Whatever the agent prints, the hub holds a bounded amount of it: the pipes are read in chunks, a
line is kept up to ``line_max`` bytes and the rest of it is read and thrown away (the line is
marked as cut), and lines read but not yet taken wait in a queue of at most ``QUEUE_BYTES``, past
which the reading threads wait, so an agent that prints faster than the hub stores blocks on
its pipe as it would on a slow terminal.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple

from django.conf import settings

from agents.environment import STEP_RUN_ENV
from agents.runner.tree import AgentCgroup, kill_tree, tree_marker

Stream = Literal["stdout", "stderr"]
_EOF = object()
CHUNK = 64 * 1024  # bytes read from a pipe at a time
QUEUE_BYTES = 8 * 1024 * 1024  # lines read and not yet taken, beyond which the readers wait


class OutputLine(NamedTuple):
    """One line the agent printed. ``text`` ends with its newline (unless the output ended without
    one); a line longer than the cap keeps its first bytes and ends with ``cut_marker``'s text.
    ``size`` is what the agent printed for it in bytes, the cut part included."""

    stream: Stream
    text: str
    size: int
    cut: int  # bytes thrown away (0: the line is whole)


def cut_marker(*, cut: int, line_max: int) -> str:
    return f" [... {cut} more bytes cut: a line is kept up to {line_max} bytes (ORCHESTRA_AGENT_LINE_MAX_BYTES)]"


# util-linux's setpriv sets the parent-death signal and then runs the agent in its place (same pid):
# when the hub thread that started the agent ends (a runner killed with SIGKILL included), the
# kernel kills the agent, so no agent runs on unwatched, on this machine or any other.
SETPRIV = shutil.which("setpriv")


def dies_with_its_parent(argv: list[str]) -> list[str]:
    return [SETPRIV, "--pdeathsig", "KILL", "--", *argv] if SETPRIV else argv


class AgentProcess:
    """Start ``argv`` (never through a shell) and yield its output lines as they come.

    ``stdin`` (the prompt, ``Adapter.stdin_prompt``) is written to the child's stdin by a thread of its
    own, then stdin is closed, so a prompt of any size never waits on the child reading its output;
    without it stdin is /dev/null (codex waits for input otherwise). Both pipes are read by their own thread,
    so a child that writes a lot to stderr never blocks; a line longer than ``line_max`` bytes
    (default ``ORCHESTRA_AGENT_LINE_MAX_BYTES``) is cut (``OutputLine.cut``) without ever being held whole.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        line_max: int | None = None,
        stdin: str | None = None,
    ) -> None:
        self.lines: queue.Queue[OutputLine | object] = queue.Queue()
        self.line_max = line_max or settings.AGENT_LINE_MAX_BYTES
        self.printed = 0  # bytes read from both pipes, cut parts included
        self.taken = 0  # bytes of the lines ``read`` has yielded, cut parts included
        self._queued = 0  # bytes of the lines in ``lines``
        self._room = threading.Condition()
        self._discarding = False
        # Its marker, what finds its setsid descendants on a machine without agent cgroups: a step
        # run's is known to a restarted hub too (``recovery.end_orphan``), any other run's is random.
        step_run = env.get(STEP_RUN_ENV, "")
        tag = step_run if step_run.isdigit() and step_run != "0" else f"run-{secrets.token_hex(8)}"
        self.marker = tree_marker(hub_pid=os.getpid(), tag=tag)
        marker_name, marker_value = self.marker.split("=", 1)
        self.popen = subprocess.Popen(
            dies_with_its_parent(argv),
            cwd=cwd,
            env={**env, marker_name: marker_value},
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: cancel reaches every descendant
        )
        self.pid = self.popen.pid
        # Its own cgroup where the machine allows it: what no setsid descendant escapes.
        self.cgroup = AgentCgroup.create(self.pid)
        self._open_streams = 2
        if stdin is not None:
            assert self.popen.stdin is not None
            threading.Thread(
                target=feed_stdin,
                args=(self.popen.stdin, stdin.encode("utf-8")),
                daemon=True,
                name=f"agent-{self.pid}-stdin",
            ).start()
        for name, pipe in (("stdout", self.popen.stdout), ("stderr", self.popen.stderr)):
            threading.Thread(
                target=self._drain, args=(name, pipe), daemon=True, name=f"agent-{self.pid}-{name}"
            ).start()

    def _drain(self, name: Stream, pipe: BinaryIO) -> None:
        kept = bytearray()  # the current line, never more than line_max bytes
        cut = 0  # bytes of the current line beyond line_max, read and dropped
        try:
            while chunk := pipe.read1(CHUNK):  # type: ignore[attr-defined]
                with self._room:
                    self.printed += len(chunk)
                start = 0
                while start < len(chunk):
                    end = chunk.find(b"\n", start)
                    stop = len(chunk) if end < 0 else end + 1
                    room = self.line_max - len(kept)
                    content = chunk[start : stop - 1] if end >= 0 else chunk[start:stop]
                    kept += content[: max(room, 0)]
                    cut += max(len(content) - max(room, 0), 0)
                    if end >= 0:
                        self._put(name, kept, cut, newline=True)
                        kept, cut = bytearray(), 0
                    start = stop
            if kept or cut:
                self._put(name, kept, cut, newline=False)
        finally:
            self.lines.put(_EOF)

    def _put(self, name: Stream, kept: bytearray, cut: int, *, newline: bool) -> None:
        text = kept.decode("utf-8", errors="replace")
        if cut:
            text += cut_marker(cut=cut, line_max=self.line_max)
        line = OutputLine(name, text + "\n" if newline else text, len(kept) + cut + newline, cut)
        held = line.size - line.cut
        with self._room:
            # Wait for room, but always let one line in: a line never waits for itself.
            while self._queued and self._queued + held > QUEUE_BYTES and not self._discarding:
                self._room.wait()
            if self._discarding:
                return
            self._queued += held
        self.lines.put(line)

    def discard(self) -> None:
        """Throw away what the agent prints from now on, so the reading threads never wait for a
        reader that is gone; ``read`` still yields what was queued and sees the pipes close."""
        with self._room:
            self._discarding = True
            self._room.notify_all()

    def read(self, timeout: float) -> Iterator[OutputLine]:
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
            assert isinstance(item, OutputLine)
            with self._room:
                self._queued -= item.size - item.cut
                self._room.notify_all()
            self.taken += item.size
            yield item

    @property
    def output_closed(self) -> bool:
        return self._open_streams == 0

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        exit_code = self.popen.wait(timeout)
        if self.cgroup is not None:
            self.cgroup.remove_if_empty()  # an agent that ended alone leaves no cgroup behind
        return exit_code

    def stop(self, *, grace: float) -> int:
        """SIGTERM the whole group, then SIGKILL it after ``grace`` seconds; return the exit code."""
        kill_group(self.pid, signal.SIGTERM)
        try:
            return self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill_tree()  # while the leader lives, its descendants are still linked to it
            return self.popen.wait()
        finally:
            # Descendants that outlived the leader are ended too, setsid ones included.
            self.kill_tree()

    def kill_tree(self) -> int:
        """SIGKILL the agent's group, its cgroup, its descendants and whatever carries its marker
        (``agents.runner.tree``); also removes its cgroup. Safe to call again."""
        # Once reaped, the leader's number may be someone else's: walk from it only while it is ours.
        # The walk comes first: a leader killed before it would leave its children unlinked.
        killed = kill_tree(self.pid if self.popen.returncode is None else None, marker=self.marker, cgroup=self.cgroup)
        kill_group(self.pid, signal.SIGKILL)
        return killed


def feed_stdin(pipe: BinaryIO, data: bytes) -> None:
    """Write ``data`` to the child's stdin and close it (its EOF ends the prompt). A child that exits or
    closes stdin before reading it all ends the write (broken pipe): its exit is what the hub reports."""
    try:
        pipe.write(data)
    except OSError:  # BrokenPipeError included
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


@dataclass(frozen=True)
class Completed:
    exit_code: int
    stdout: list[str]  # lines, each with its newline
    stderr: str
    timed_out: bool


def run_to_completion(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, stdin: str | None = None
) -> Completed:
    """Run ``argv`` as an ``AgentProcess`` (``stdin``: its prompt) until it exits and its pipes close, or
    ``timeout`` seconds pass (then its whole group is killed). Nothing it started outlives it either way."""
    process = AgentProcess(argv, cwd=cwd, env=env, stdin=stdin)
    deadline = time.monotonic() + timeout
    stdout: list[str] = []
    stderr: list[str] = []
    timed_out = False
    try:
        while not process.output_closed and not timed_out:
            remaining = deadline - time.monotonic()
            timed_out = remaining <= 0
            for line in process.read(timeout=max(remaining, 0.0)):
                (stdout if line.stream == "stdout" else stderr).append(line.text)
        if not timed_out:
            try:
                exit_code = process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                timed_out = True
        if timed_out:
            exit_code = process.stop(grace=0)
    finally:
        process.kill_tree()
        process.discard()
    return Completed(exit_code=exit_code, stdout=stdout, stderr="".join(stderr), timed_out=timed_out)


def kill_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
