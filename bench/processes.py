"""Real ``manage.py serve`` processes: environment, database, start, stop.

The bench's own, so ``bench/`` runs from a checkout without the tests; the end-to-end tests build
on it too (``tests/hub_processes.py`` adds their per-worker Redis prefix and database names).
``BENCH_POSTGRES_ADMIN_DSN`` and ``BENCH_REDIS_URL`` name the servers of the PostgreSQL + Redis
runs; ``BENCH_POSTGRES_PREFIX`` starts the names of the databases the bench creates (and drops).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get("BENCH_POSTGRES_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = "orchestra-bench"
DATABASE_PREFIX = os.environ.get("BENCH_POSTGRES_PREFIX", "orchestra_bench")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def hub_env(data_dir: Path, *, redis_prefix: str = REDIS_PREFIX, **overrides: str) -> dict[str, str]:
    """The environment of a hub process: its own data dir, nothing inherited from the caller's hub settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRA_", "DJANGO_"))}
    env.update(
        {
            "ORCHESTRA_DATA_DIR": str(data_dir),
            "ORCHESTRA_LOG_LEVEL": "WARNING",
            "ORCHESTRA_REDIS_PREFIX": redis_prefix,
            **overrides,
        }
    )
    return env


@contextmanager
def postgres_database(prefix: str = DATABASE_PREFIX) -> Iterator[str]:
    """A fresh PostgreSQL database named ``<prefix>_…`` (the caller migrates it); dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgres://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class HubProcess:
    """One ``manage.py serve`` on a free port, healthy once the constructor returns. ``api_key`` is
    sent with every request (for a hub with ``ORCHESTRA_TRUST_LOOPBACK=false``); ``port`` is given to
    start a hub again where a stopped one listened."""

    def __init__(
        self, env: dict[str, str], *extra_args: str, api_key: str | None = None, port: int | None = None
    ) -> None:
        self.api_key = api_key
        self.port = port or free_port()
        self.env = env
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(self.port), *extra_args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            self.wait_until_healthy()
        except BaseException:
            self.process.kill()  # nobody will stop a hub that never became healthy
            self.process.wait()
            raise

    def wait_until_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited early:\n{self.process.stdout.read() if self.process.stdout else ''}")
            try:
                if self.request("GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("serve did not become healthy")

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def output(self) -> str:
        """Everything the process printed (read once it has stopped)."""
        return self.process.stdout.read() if self.process.stdout else ""


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def serving_pid(client: socket.socket, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server end of the TCP connection ``client`` (Linux, IPv4)."""
    client_port = client.getsockname()[1]
    server_port = client.getpeername()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue  # closed meanwhile
    return None
