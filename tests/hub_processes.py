"""Start real hub processes (``manage.py serve``) for end-to-end tests; the bench has its own."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
# `make test TEST_REDIS_URL=...` gives each checkout its own Redis database.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def hub_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a hub process: its own data dir, nothing inherited from the test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRA_", "DJANGO_"))}
    env.update(
        {
            "ORCHESTRA_DATA_DIR": str(data_dir),
            "ORCHESTRA_LOG_LEVEL": "WARNING",
            # Parallel test workers share the machine's Redis: each worker's hubs keep to their keys.
            "ORCHESTRA_REDIS_PREFIX": redis_prefix(),
            **overrides,
        }
    )
    return env


def redis_prefix() -> str:
    """The channel-layer prefix of this test process (one per pytest-xdist worker)."""
    return f"orchestra-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, migrated-by-the-caller PostgreSQL database; dropped afterwards."""
    import psycopg

    name = f"orchestra_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class HubProcess:
    def __init__(self, env: dict[str, str], *extra_args: str, api_key: str | None = None) -> None:
        """``api_key`` is sent with every request (for a hub with ``ORCHESTRA_TRUST_LOOPBACK=false``)."""
        self.port = free_port()
        self.env = env
        self.api_key = api_key
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
        return self.process.stdout.read() if self.process.stdout else ""


@contextmanager
def running_hub(env: dict[str, str], *extra_args: str, api_key: str | None = None) -> Iterator[HubProcess]:
    hub = HubProcess(env, *extra_args, api_key=api_key)
    try:
        yield hub
    finally:
        hub.stop()
