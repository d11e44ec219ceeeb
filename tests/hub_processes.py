"""Start real hub processes (``manage.py serve``) for end-to-end tests.

The machinery is the bench's (``bench/processes.py``); the tests add what parallel workers need:
each worker's hubs keep to its own Redis prefix, and their databases are named ``orchestra_e2e_…``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from bench import processes
from bench.processes import ROOT, HubProcess, free_port, manage

__all__ = ["REDIS_URL", "ROOT", "HubProcess", "free_port", "hub_env", "manage", "postgres_database", "running_hub"]

# `make test TEST_REDIS_URL=...` gives each checkout its own Redis database.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def hub_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a hub process: its own data dir, nothing inherited from the test run."""
    # Parallel test workers share the machine's Redis: each worker's hubs keep to their keys.
    return processes.hub_env(data_dir, redis_prefix=redis_prefix(), **overrides)


def redis_prefix() -> str:
    """The channel-layer prefix of this test process: one per pytest-xdist worker, and one per test
    run (the run's first process id), so two runs on one machine never share groups."""
    run = os.environ.setdefault(
        "ORCHESTRA_TEST_RUN", str(os.getppid() if "PYTEST_XDIST_WORKER" in os.environ else os.getpid())
    )
    return f"orchestra-test-{run}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def postgres_database() -> AbstractContextManager[str]:
    """A fresh, migrated-by-the-caller PostgreSQL database; dropped afterwards."""
    return processes.postgres_database(prefix="orchestra_e2e")


@contextmanager
def running_hub(env: dict[str, str], *extra_args: str, api_key: str | None = None) -> Iterator[HubProcess]:
    hub = HubProcess(env, *extra_args, api_key=api_key)
    try:
        yield hub
    finally:
        hub.stop()
