"""Ending an agent and everything it started, ``setsid`` children included.

A process group is not enough: a descendant that calls ``setsid`` (or ``setpgid``) leaves the
agent's group and session, and once its parent exits it is re-parented to init, so neither
``killpg`` nor the parent links reach it any more. Two ways reach it here:

- **A cgroup per agent**, where the machine has a writable cgroup v2 hierarchy (the hub runs as
  root, or in a delegated subtree): ``AgentCgroup.create`` makes ``orchestra-agent-*`` beside the
  hub's own cgroup and moves the agent into it just after it starts; the kernel keeps every
  descendant in it whatever it does with sessions, and ``cgroup.kill`` ends them all at once.
- **Otherwise, the process table**: every descendant by parent link (walked again until nothing
  new turns up, each one stopped first so it cannot fork behind the walk), plus every process
  whose environment carries the agent's marker (``ORCHESTRA_AGENT_TREE``, see ``tree_marker``),
  which survives re-parenting. Signals go through a pidfd taken before the process is checked,
  so a pid reused between the check and the signal is never hit.

Both are applied on every kill: the cgroup misses nothing the agent started after the move, and
the walk covers the few milliseconds between the agent's start and the move.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import select
import signal
import threading
import time
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_PREFIX = "orchestra-agent-"
AGENT_TREE_ENV = "ORCHESTRA_AGENT_TREE"
_counter = itertools.count(1)
_parent_checked = False
_parent: Path | None = None
_probe_lock = threading.Lock()  # worker threads start agents at once; one probe answers them all


def tree_marker(*, hub_pid: int, tag: str) -> str:
    """``NAME=value`` that every process of one agent carries in its environment.

    A step run's id alone is not enough: other hubs on the machine (another data dir, a test
    run) count step runs from 1 too. The id of the hub process that started the agent (the
    ``HubProcess.pid`` of its runner) tells them apart, and a restarted hub can still name a
    dead runner's agents with it."""
    return f"{AGENT_TREE_ENV}={hub_pid}-{tag}"


def _own_cgroup_dir() -> Path | None:
    """This process's cgroup v2 folder (the ``0::`` line of /proc/self/cgroup under the cgroup2 mount)."""
    try:
        own = next(
            line[3:].strip() for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::")
        )
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except (OSError, StopIteration):
        return None
    for line in mounts:
        fields = line.split()
        if " - cgroup2 " in line and len(fields) > 4:
            root, mount_point = fields[3], fields[4]
            relative = os.path.relpath(own, root) if own.startswith(root) else None
            if relative is not None and not relative.startswith(".."):
                folder = Path(mount_point) / relative
                if folder.is_dir():
                    return folder.resolve()
    return None


def cgroup_parent() -> Path | None:
    """Where agent cgroups go, or None when this process may not make them (probed once)."""
    global _parent_checked, _parent
    with _probe_lock:
        if not _parent_checked:
            _parent = _probe()
            _parent_checked = True
    return _parent


def _probe() -> Path | None:
    folder = _own_cgroup_dir()
    probe = folder / f"{CGROUP_PREFIX}probe-{os.getpid()}" if folder else None
    try:
        if probe is None:
            raise OSError("no cgroup v2 hierarchy")
        probe.mkdir()
        can_kill = (probe / "cgroup.kill").exists()
        probe.rmdir()
        if not can_kill:
            raise OSError("no cgroup.kill (Linux 5.14 or later has it)")
    except OSError as exc:
        logger.info("agents are not put in cgroups (%s); cancel walks the process table instead", exc)
        return None
    assert folder is not None
    _remove_stale_cgroups(folder)
    return folder


def _remove_stale_cgroups(parent: Path) -> None:
    """Empty agent cgroups of hub processes that are gone (a hub killed before it removed them)."""
    for folder in parent.glob(f"{CGROUP_PREFIX}*-*"):
        hub_pid = folder.name[len(CGROUP_PREFIX) :].split("-")[0]
        if hub_pid.isdigit() and not Path(f"/proc/{hub_pid}").exists():
            with contextlib.suppress(OSError):  # not empty: its orphans are ended by recovery
                folder.rmdir()


class AgentCgroup:
    """One agent's own cgroup v2 folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, pid: int) -> AgentCgroup | None:
        """Move ``pid`` into a new cgroup of its own; None where that cannot be done."""
        parent = cgroup_parent()
        if parent is None:
            return None
        path = parent / f"{CGROUP_PREFIX}{os.getpid()}-{next(_counter)}"
        try:
            path.mkdir()
        except OSError:
            return None
        try:
            (path / "cgroup.procs").write_text(str(pid))
        except OSError:  # the agent already exited, or the move is not ours to make
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path)

    def remove_if_empty(self) -> None:
        with contextlib.suppress(OSError):  # still populated: ``kill`` ends and removes it
            self.path.rmdir()

    def kill(self, *, wait: float = 1.0) -> None:
        """SIGKILL everything in the cgroup, then remove it once the kernel has emptied it."""
        with contextlib.suppress(OSError):
            (self.path / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + wait
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    logger.warning("agent cgroup %s is not empty after cgroup.kill", self.path)
                    return
                time.sleep(0.01)


def agent_cgroup_of(pid: int) -> AgentCgroup | None:
    """The agent cgroup ``pid`` is in, if it is one of ours (an orphan's, after the hub restarted)."""
    try:
        line = next(line for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if line.startswith("0::"))
    except (OSError, StopIteration):
        return None
    name = Path(line[3:].strip()).name
    parent = cgroup_parent()
    if parent is None or not name.startswith(CGROUP_PREFIX):
        return None
    return AgentCgroup(parent / name)


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields start after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[1])


def _carries(pid: int, marker: bytes) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def _send(pidfd: int, sig: int) -> bool:
    try:
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except OSError:
        return False


def kill_tree(pid: int | None, *, marker: str | None = None, cgroup: AgentCgroup | None = None) -> int:
    """SIGKILL ``pid``'s cgroup, its descendants and every process carrying ``marker`` ("NAME=value").

    Returns how many processes the walk of the process table killed (the cgroup's are not
    counted). ``pid`` itself is killed too: pass None once it has been reaped (its number may
    belong to someone else by then), and never the hub's own pid.
    """
    cgroups = [cgroup] if cgroup is not None else []
    if pid is not None and cgroup is None and (found := agent_cgroup_of(pid)) is not None:
        cgroups.append(found)
    marker_bytes = marker.encode() if marker else None
    me = _ancestors_and_self()  # never the hub, nor whatever started it
    held: dict[int, int] = {}  # stopped process -> its pidfd, so the final SIGKILL cannot hit a reused pid
    try:
        for _ in range(50):  # each round stops what the last one found, so forks cannot outrun it
            new = _stop_round(roots={pid} if pid is not None else set(), held=held, marker=marker_bytes, me=me)
            if not new:
                break
            known = {group.path for group in cgroups}
            for candidate in new:
                found = agent_cgroup_of(candidate)
                if found is not None and found.path not in known:
                    cgroups.append(found)
                    known.add(found.path)
        for group in cgroups:
            group.kill()
        killed = sum(_send(pidfd, signal.SIGKILL) for pidfd in held.values())
        _wait_exited(list(held.values()), timeout=1.0)
        return killed
    finally:
        for pidfd in held.values():
            os.close(pidfd)


def _wait_exited(pidfds: list[int], *, timeout: float) -> None:
    """Return once every process has exited (a pidfd turns readable then), or after ``timeout``."""
    deadline = time.monotonic() + timeout
    waiting = list(pidfds)
    while waiting and (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select(waiting, [], [], remaining)
        waiting = [pidfd for pidfd in waiting if pidfd not in ready]


def _ancestors_and_self() -> set[int]:
    chain, pid = set(), os.getpid()
    while pid and pid not in chain:
        chain.add(pid)
        pid = _parent_pid(pid) or 0
    return chain


def _stop_round(*, roots: set[int], held: dict[int, int], marker: bytes | None, me: set[int]) -> set[int]:
    """SIGSTOP every not yet stopped descendant of ``roots`` or of a stopped process, and every marked one."""
    parents = {candidate: _parent_pid(candidate) for candidate in _all_pids()}
    tree = roots | set(held)
    while True:
        grown = tree | {child for child, parent in parents.items() if parent in tree}
        if grown == tree:
            break
        tree = grown
    if marker is not None:
        tree |= {candidate for candidate in parents if _carries(candidate, marker)}
    new: set[int] = set()
    for candidate in tree - set(held) - me:
        pidfd = _pidfd(candidate)
        if pidfd is None:
            continue
        # Checked again with the pidfd held: the number still names the process that was found.
        still = (
            candidate in roots or _parent_pid(candidate) in tree or (marker is not None and _carries(candidate, marker))
        )
        if still and _send(pidfd, signal.SIGSTOP):
            held[candidate] = pidfd
            new.add(candidate)
        else:
            os.close(pidfd)
    return new
