"""Real ``manage.py serve`` processes for the benchmarks, and what is measured on them."""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import quote

from bench.processes import PG_ADMIN_DSN, REDIS_URL, HubProcess, child_pids, hub_env, manage, postgres_database

LAYERS = ("memory", "redis")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LAYER_LABEL = {
    "memory": "in-memory layer, SQLite",
    "redis": "Redis layer, PostgreSQL",
}


def raise_open_files_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit; ``serve`` children inherit it (1000 sockets > 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class BenchHub(HubProcess):
    """A ``serve`` whose output is drained (a full pipe would stall it) and whose CPU is sampled."""

    def __init__(self, env: dict[str, str], data_dir: Path, layer: str) -> None:
        super().__init__(env)
        self.data_dir = data_dir
        self.layer = layer
        self.lines: deque[str] = deque(maxlen=200)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time of the serve process (its own threads, not its agents)."""
        return process_cpu_seconds(self.pid)

    def cpu_seconds_with_workers(self) -> float:
        """The same for the serve process and its ``--workers`` processes."""
        return sum(process_cpu_seconds(pid) for pid in [self.pid, *child_pids(self.pid)])

    def output(self) -> str:
        return "".join(self.lines)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)


def workspace_url(path: str, action: str | None = "desired") -> str:
    """The encoded form: the whole segment is the id."""
    url = f"/api/orchestration/workspace/{quote(path, safe='')}"
    return f"{url}/{action}" if action else url


@contextmanager
def bench_hub(layer: str = "memory", **overrides: str) -> Iterator[BenchHub]:
    """A migrated, running hub with its own data dir; ``redis`` also gets a fresh PostgreSQL database."""
    raise_open_files_limit()
    with ExitStack() as stack:
        data_dir = Path(tempfile.mkdtemp(prefix=f"orchestra-bench-{layer}-"))
        stack.callback(shutil.rmtree, data_dir, True)
        if layer == "redis":
            overrides = {
                "ORCHESTRA_DATABASE_URL": stack.enter_context(postgres_database()),
                "ORCHESTRA_REDIS_URL": REDIS_URL,
                **overrides,
            }
        env = hub_env(data_dir, **overrides)
        done = manage("migrate", "--noinput", env=env)
        if done.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")
        hub = BenchHub(env, data_dir, layer)
        try:
            yield hub
        finally:
            try:
                hub.stop()
            except Exception:
                pass
            time.sleep(0.2)


def measurable_layers(notes: list[str]) -> Iterator[str]:
    """The layers this machine can measure; a skipped one is explained in ``notes``."""
    for layer in LAYERS:
        if reason := layer_available(layer):
            notes.append(f"{LAYER_LABEL[layer]} skipped: {reason}")
            continue
        yield layer


def layer_available(layer: str) -> str | None:
    """Why ``layer`` cannot be measured on this machine, or None."""
    if layer == "memory":
        return None
    try:
        import psycopg
        import redis

        psycopg.connect(PG_ADMIN_DSN, connect_timeout=3).close()
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except Exception as exc:
        return f"PostgreSQL or Redis unavailable ({exc.__class__.__name__})"
    return None
