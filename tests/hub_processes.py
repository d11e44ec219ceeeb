"""Start real hub processes (``manage.py serve``) for end-to-end tests.

The machinery is the bench's (``bench/processes.py``); the tests add what parallel workers need:
each worker's hubs keep to its own Redis prefix, and their databases are named ``orchestra_e2e_…``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from bench import processes
from bench.processes import PG_ADMIN_DSN, ROOT, HubProcess, free_port, manage

__all__ = [
    "REDIS_URL",
    "ROOT",
    "HubProcess",
    "free_port",
    "hub_env",
    "manage",
    "migrate",
    "postgres_database",
    "running_hub",
]

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


def migrate(env: dict[str, str]) -> None:
    """Give the hub of ``env`` a migrated database, as ``manage.py migrate`` would: a copy of one
    that ``manage.py migrate`` built once for this test process (the SQLite file of its data dir;
    on PostgreSQL, its empty database made again from a migrated template). A test of ``migrate``
    itself runs the command instead."""
    url = env.get("ORCHESTRA_DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        name = url.rsplit("/", 1)[1]
        template = _migrated_template("postgres")
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}"')  # just created, empty, nobody connected yet
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return
    assert not url, f"no migrated copy for {url}"
    data_dir = Path(env["ORCHESTRA_DATA_DIR"])
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = data_dir / "orchestra.sqlite3"
    shutil.copyfile(_migrated_template("sqlite"), target)
    target.chmod(0o600)


_templates: dict[str, str] = {}


def _migrated_template(kind: str) -> str:
    """The SQLite file or PostgreSQL database ``manage.py migrate`` built for this process; gone
    when the process ends."""
    if kind not in _templates:
        folder = Path(tempfile.mkdtemp(prefix="orchestra-migrated-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        overrides: dict[str, str] = {}
        if kind == "postgres":
            name = f"orchestra_e2e_template_{uuid.uuid4().hex[:10]}"
            import psycopg

            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            atexit.register(_drop_database, name)
            base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgres://", 1)
            overrides["ORCHESTRA_DATABASE_URL"] = f"{base}/{name}"
        result = manage("migrate", "--noinput", env=hub_env(folder / "data", **overrides))
        assert result.returncode == 0, result.stderr
        if kind == "postgres":
            _templates[kind] = name
        else:
            database = folder / "data" / "orchestra.sqlite3"
            assert not database.with_name(database.name + "-wal").exists()  # all of it is in the file
            _templates[kind] = str(database)
    return _templates[kind]


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_hub(env: dict[str, str], *extra_args: str, api_key: str | None = None) -> Iterator[HubProcess]:
    hub = HubProcess(env, *extra_args, api_key=api_key)
    try:
        yield hub
    finally:
        hub.stop()
