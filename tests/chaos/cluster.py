"""The chaos tests' machinery: a private PostgreSQL, hub processes that log to files, a sampler.

The PostgreSQL is this harness's own (``initdb`` into a temporary folder, its own port and unix
socket folder), so restarting or crashing it disturbs nothing else on the machine. Everything it
starts is stopped by ``Cluster.close`` (a ``with`` block, so also on a failed assertion, Ctrl-C or
SIGTERM): the hub processes, every agent they left behind, the PostgreSQL server and its folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import quote

import psycopg

from bench.processes import ROOT, free_port, hub_env, manage

PG_BIN = Path(os.environ.get("CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AGENT = Path(__file__).with_name("chaos_agent.py")
DATABASE = "orchestra_chaos"


class PrivatePostgres:
    """A throwaway PostgreSQL server: ``initdb`` into a temporary folder, its own port and socket.

    initdb refuses to run as root, so as root the server runs as the ``postgres`` user (its folder
    is handed over to that user). Durability is off (fsync): the tests crash it on purpose, and
    an immediate stop still goes through crash recovery at the next start.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="orchestra-chaos-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.socket_dir.mkdir()
        self.log.touch()
        if self.user:
            for path in (self.root, self.socket_dir, self.log):
                shutil.chown(path, self.user, self.user)
        try:
            self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_line_prefix": "'%m [%p] '",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(PG_BIN / program), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            user=self.user,
            group=self.user,
            extra_groups=[] if self.user else None,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def pg_ctl(self, *args: str) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", *args)

    def start(self) -> None:
        self.pg_ctl("start")

    def restart_fast(self) -> None:
        """``pg_ctl restart -m fast``: every session is terminated, the server is back at once."""
        self.pg_ctl("restart", "-m", "fast")

    def crash(self, down_for: float) -> None:
        """``pg_ctl stop -m immediate`` (no clean shutdown: recovery at start), ``down_for`` s, start."""
        self.pg_ctl("stop", "-m", "immediate")
        time.sleep(down_for)
        self.start()

    def create_database(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def close(self, keep_log: Path) -> None:
        """Stop the server whatever state it is in, keep its log, remove its folder."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.pg_ctl("stop", "-m", "immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(Exception):
                    os.kill(int((self.data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        with contextlib.suppress(OSError):
            shutil.copyfile(self.log, keep_log)
        shutil.rmtree(self.root, ignore_errors=True)


class LoggedProcess:
    """A ``manage.py`` command whose output goes to a file (a pipe nobody reads would block it)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("w") as out:
            self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        self.pid = self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (a runner stops its agents politely), then SIGKILL after ``timeout``."""
        if not self.alive:
            return
        self.popen.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)


@dataclass
class Sample:
    """One look at the machine: the live agents (pid -> node) and the workspace row."""

    t: float
    agents: dict[int, str]
    desired: int | None = None
    running: int | None = None


@dataclass
class Samples:
    items: list[Sample] = field(default_factory=list)

    def peak_agents(self) -> Sample | None:
        return max(self.items, key=lambda s: len(s.agents), default=None)

    def peak_running(self) -> Sample | None:
        return max((s for s in self.items if s.running is not None), key=lambda s: s.running or 0, default=None)

    def doubled_nodes(self) -> dict[str, tuple[float, list[int]]]:
        """Nodes seen with two live agents at once: node -> (first time, their pids)."""
        seen: dict[str, tuple[float, list[int]]] = {}
        for sample in self.items:
            by_node: dict[str, list[int]] = {}
            for pid, node in sample.agents.items():
                by_node.setdefault(node, []).append(pid)
            for node, pids in by_node.items():
                if len(pids) > 1 and node not in seen:
                    seen[node] = (sample.t, sorted(pids))
        return seen

    def changes(self) -> list[str]:
        """The samples where something changed, one line each (for the failure report)."""
        lines, last = [], None
        for s in self.items:
            key = (sorted(s.agents.items()), s.desired, s.running)
            if key != last:
                agents = ", ".join(f"{node}:{pid}" for pid, node in sorted(s.agents.items(), key=lambda kv: kv[1]))
                lines.append(
                    f"  t={s.t:6.1f}s desired={s.desired} running={s.running} agents[{len(s.agents)}]: {agents}"
                )
                last = key
        return lines


def agent_processes(markers: Path) -> dict[int, str]:
    """The live chaos agents of this test (pid -> node), read from /proc (Linux)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile
        if state == "Z" or len(argv) < 4 or not argv[1].endswith(AGENT.name.encode()):
            continue
        if argv[2].decode(errors="replace") == str(markers):
            found[int(entry.name)] = argv[3].decode(errors="replace").splitlines()[0].split()[1]
    return found


def marker_events(markers: Path) -> list[dict[str, Any]]:
    path = markers / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Cluster:
    """A private PostgreSQL, the machine's Redis under a fresh prefix, ``serve`` and runners.

    ``env`` goes to every hub process, ``env_overrides[name]`` to the one process of that name.
    Runners are added with ``add_runner``; ``hostname``
    starts one in its own UTS namespace under that host name, so the hub sees a remote runner
    (one whose agents it cannot see or kill from here).
    """

    def __init__(self, tmp: Path, **env: str) -> None:
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.markers = tmp / "markers"
        for folder in (self.logs, self.markers):
            folder.mkdir(parents=True, exist_ok=True)
        self.redis_prefix = f"orchestra-chaos-{uuid.uuid4().hex[:12]}"
        self.processes: list[LoggedProcess] = []
        self.pg: PrivatePostgres | None = None
        self.samples = Samples()
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None
        self.t0 = time.monotonic()
        self.wall0 = time.time()  # the same moment on the wall clock (the markers carry wall-clock times)
        self.extra_env = env
        self.env: dict[str, str] = {}
        self.env_overrides: dict[str, dict[str, str]] = {}  # process name -> its own settings
        self.port = 0

    def __enter__(self) -> Cluster:
        # SIGTERM (a CI timeout, a kill) unwinds like Ctrl-C, so the cleanup below still runs.
        self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        self.pg = PrivatePostgres()
        self.pg.start()
        self.pg.create_database()
        self.env = hub_env(
            self.tmp / "data",
            redis_prefix=self.redis_prefix,
            ORCHESTRA_DATABASE_URL=self.pg.url,
            ORCHESTRA_REDIS_URL=REDIS_URL,
            ORCHESTRA_LOG_LEVEL="INFO",
            ORCHESTRA_CUSTOM_AGENT_COMMAND=f"{sys.executable},{AGENT},{self.markers},{{prompt}}",
            **self.extra_env,
        )
        migrated = manage("migrate", "--noinput", env=self.env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        # Step run ids far from those of any other hub on this machine: an agent is marked with
        # its id (ORCHESTRA_STEP_RUN), and a hub that ends "its" agent by that marker would
        # otherwise kill ours too.
        self.query(
            "SELECT setval(pg_get_serial_sequence('agents_steprun', 'id'), %s)", random.randrange(10**9, 2 * 10**9)
        )
        self.port = free_port()
        serve = self.launch("serve", ["manage.py", "serve", "--no-runner", "--port", str(self.port)])
        wait_for(lambda: self.request("GET", "/health")[0] == 200, 30, lambda: f"serve never healthy:\n{serve.tail()}")

    def launch(self, name: str, args: list[str], *, hostname: str | None = None) -> LoggedProcess:
        argv = [sys.executable, *args]
        if hostname:
            # A UTS namespace of its own needs root, or else a user namespace around it.
            unshare = ["unshare", "--uts"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--uts"]
            argv = [*unshare, "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]
        env = {**self.env, **self.env_overrides.get(name, {})}
        process = LoggedProcess(name, argv, env=env, log=self.logs / f"{name}.log")
        self.processes.append(process)
        return process

    def add_runner(self, name: str, *, hostname: str | None = None) -> LoggedProcess:
        runner = self.launch(name, ["manage.py", "runagents"], hostname=hostname)
        wait_for(lambda: "taking work" in runner.text(), 30, lambda: f"{name} never took work:\n{runner.tail()}")
        return runner

    def now(self) -> float:
        return time.monotonic() - self.t0

    # --- the API and the database -------------------------------------------------------------

    def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """One API call; a refused connection or a timeout counts as status 0."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                return error.code, json.loads(raw or b"null")
            except ValueError:
                return error.code, raw.decode(errors="replace")
        except OSError:
            return 0, None

    def api(self, method: str, path: str, body: object = None, *, expect: int = 200) -> Any:
        status, answer = self.request(method, path, body)
        assert status == expect, f"{method} {path}: {status} {answer}"
        return answer

    def set_desired(self, workspace: str, desired: int) -> None:
        self.api("PUT", f"/api/orchestration/workspace/{quote(workspace, safe='')}/desired", {"desired": desired})

    def database_url(self, *, port: int) -> str:
        """The hub's database through another port (a proxy in front of the private server)."""
        return f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        assert self.pg is not None
        with psycopg.connect(self.pg.url.replace("postgres://", "postgresql://", 1), connect_timeout=3) as conn:
            return conn.execute(sql, params).fetchall()

    def runner_pids_of_running_steps(self) -> dict[int, int]:
        """pid of each runner -> how many running steps it holds."""
        rows = self.query(
            "SELECT p.pid, count(*) FROM agents_steprun s JOIN orchestra_site_hubprocess p ON s.runner_id = p.id"
            " WHERE s.status = 'running' GROUP BY p.pid"
        )
        return {int(pid): int(count) for pid, count in rows}

    # --- sampling -----------------------------------------------------------------------------

    def start_sampling(self, workspace: str, every: float = 0.1) -> None:
        def sample_forever() -> None:
            conn: psycopg.Connection[Any] | None = None
            while not self._sampling.wait(every):
                sample = Sample(t=self.now(), agents=agent_processes(self.markers))
                try:
                    if conn is None or conn.closed:
                        assert self.pg is not None
                        url = self.pg.url.replace("postgres://", "postgresql://", 1)
                        conn = psycopg.connect(url, autocommit=True, connect_timeout=1)
                    row = conn.execute(
                        "SELECT desired, running FROM orchestration_workspace WHERE path = %s", (workspace,)
                    ).fetchone()
                    if row:
                        sample.desired, sample.running = int(row[0]), int(row[1])
                except psycopg.Error:
                    if conn is not None:
                        conn.close()  # the database is down or restarting: the next sample reconnects
                    conn = None
                self.samples.items.append(sample)
            if conn is not None:
                conn.close()

        self._sampler = threading.Thread(target=sample_forever, name="chaos-sampler", daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> None:
        self._sampling.set()
        if self._sampler is not None:
            self._sampler.join(10)

    # --- the end --------------------------------------------------------------------------------

    def report(self) -> str:
        """Every process's log tail and the sampled timeline: printed when a check fails."""
        parts = [f"logs in {self.logs}"]
        for process in self.processes:
            state = "running" if process.alive else f"exited {process.popen.returncode}"
            parts.append(f"----- {process.name} (pid {process.pid}, {state}): last lines of {process.log.name}")
            parts.append(process.tail())
        postgres_log = self.logs / "postgres.log"
        if self.pg is not None and self.pg.log.exists():
            postgres_log = self.pg.log
        if postgres_log.exists():
            parts.append("----- postgres: last lines")
            parts.append("\n".join(postgres_log.read_text(errors="replace").splitlines()[-25:]))
        parts.append("----- sampled agents and workspace row (changes only)")
        parts.extend(self.samples.changes())
        parts.append("----- agent markers")
        parts.extend(
            f"  t={event['t'] - self.wall0:6.1f}s {event['event']:7} {event['node']} pid={event['pid']}"
            f" step_run={event['step_run']}"
            for event in marker_events(self.markers)
        )
        return "\n".join(parts)

    def close(self) -> None:
        """Stop everything this cluster started, in an order that leaves nothing behind."""
        self.stop_sampling()
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop()
        for pid in agent_processes(self.markers):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)  # each agent leads its own process group
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if self.pg is not None:
            self.pg.close(keep_log=self.logs / "postgres.log")
            self.pg = None
        with contextlib.suppress(Exception):
            _forget_redis_keys(self.redis_prefix)
        signal.signal(signal.SIGTERM, self._previous_sigterm)


def wait_for(check: Callable[[], Any], timeout: float, message: Callable[[], str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message())


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _forget_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
