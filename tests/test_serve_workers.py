"""``serve --workers N``: several processes answer one port and are still one hub. Real processes,
real sockets; which worker holds a connection is read from /proc (Linux)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
from websockets.sync.client import ClientConnection, connect

from bench.processes import child_pids, serving_pid
from tests.hub_processes import (
    REDIS_URL,
    HubProcess,
    postgres_database,
    running_hub,
)
from tests.test_hub_processes import migrated_env, next_event

pytestmark = pytest.mark.slow
Connection = TypeVar("Connection", http.client.HTTPConnection, ClientConnection)


def workers_of(hub: HubProcess, count: int, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = child_pids(hub.process.pid)
        if len(pids) == count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"the hub has workers {child_pids(hub.process.pid)}, not {count}")


def one_on_each(workers: list[int], open_one: Callable[[], tuple[Connection, int | None]]) -> dict[int, Connection]:
    """Open connections until every worker holds one (a worker just started may take seconds to
    listen); the others are closed."""
    held: dict[int, Connection] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        connection, pid = open_one()
        if pid in workers and pid not in held:
            held[pid] = connection
        else:
            connection.close()
        if len(held) == len(workers):
            return held
        time.sleep(0.05)
    for connection in held.values():
        connection.close()
    raise AssertionError(f"in 30s connections reached only workers {sorted(held)} of {sorted(workers)}")


def http_connection(hub: HubProcess, workers: list[int]) -> tuple[http.client.HTTPConnection, int | None]:
    connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    connection.request("GET", "/health")
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.read())["status"] == "ok"
    assert connection.sock is not None
    return connection, serving_pid(connection.sock, workers)


def orchestration_socket(hub: HubProcess, workers: list[int], stack: ExitStack) -> tuple[ClientConnection, int | None]:
    ws = stack.enter_context(connect(hub.ws_url + "/orchestration"))
    next_event(ws, "orchestration.global")  # the snapshot
    return ws, serving_pid(ws.socket, workers)


def put_desired(connection: http.client.HTTPConnection, desired: int) -> None:
    body = json.dumps({"desired": desired})
    path = "/api/orchestration/workspace/%2Fsrv%2Frepo"
    connection.request("PUT", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200, response.read()
    response.read()


@contextmanager
def on_every_worker(
    hub: HubProcess, workers: list[int]
) -> Iterator[tuple[dict[int, http.client.HTTPConnection], dict[int, ClientConnection]]]:
    """A keep-alive HTTP connection and an orchestration socket held by each worker."""
    with ExitStack() as stack:
        writers = one_on_each(workers, lambda: http_connection(hub, workers))
        for writer in writers.values():
            stack.callback(writer.close)
        sockets = one_on_each(workers, lambda: orchestration_socket(hub, workers, stack))
        yield writers, sockets


def every_change_reaches_every_socket(
    writers: dict[int, http.client.HTTPConnection], sockets: dict[int, ClientConnection], start: int
) -> int:
    """Changes made through each worker in turn reach the sockets of all of them, in order, with
    versions that increase; then a burst that does not wait still ends, in order, at its last value."""
    order = sorted(writers)
    versions: dict[int, list[int]] = {pid: [] for pid in sockets}
    for step in range(4):  # one change at a time: each socket gets each one
        desired = start + step
        put_desired(writers[order[step % len(order)]], desired)
        for pid, ws in sockets.items():
            data = next_event(ws, "orchestration.global")
            assert data["desired"] == desired, f"worker {pid}'s socket got {data} after desired {desired}"
            versions[pid].append(data["version"])
    assert len({tuple(seen) for seen in versions.values()}) == 1  # the same versions everywhere
    first = next(iter(versions.values()))
    assert first == sorted(set(first))
    last = start + 4 + 9
    for desired in range(start + 4, last + 1):  # a burst through both workers
        put_desired(writers[order[desired % len(order)]], desired)
    for pid, ws in sockets.items():
        seen = [(first[-1], start + 3)]
        while seen[-1][1] != last:
            data = next_event(ws, "orchestration.global")
            seen.append((data["version"], data["desired"]))
        assert [version for version, _ in seen] == sorted({version for version, _ in seen}), (pid, seen)
        assert [desired for _, desired in seen] == sorted({desired for _, desired in seen}), (pid, seen)
    return last + 1


def test_two_workers_on_sqlite_are_one_hub_on_one_port(tmp_path: Path) -> None:
    env = migrated_env(tmp_path, ORCHESTRA_MAX_DESIRED="100")
    with running_hub(env, "--workers", "2") as hub:  # with the runner
        workers = workers_of(hub, 2)
        with on_every_worker(hub, workers) as (writers, sockets):
            after = every_change_reaches_every_socket(writers, sockets, start=1)

        # One hub: the parent's row is the only live one (read from the file, not by another Django process).
        with closing(sqlite3.connect(f"file:{tmp_path / 'data' / 'orchestra.sqlite3'}?mode=ro", uri=True)) as db:
            live = db.execute("SELECT pid, kind FROM orchestra_site_hubprocess WHERE stopped_at IS NULL").fetchall()
        assert live == [(hub.process.pid, "serve")]

        os.kill(workers[0], signal.SIGKILL)  # a worker dies: another takes its place
        deadline = time.monotonic() + 20
        while (renewed := child_pids(hub.process.pid)) and (workers[0] in renewed or len(renewed) < 2):
            assert time.monotonic() < deadline, renewed
            time.sleep(0.1)
        workers = workers_of(hub, 2)
        hub.wait_until_healthy()
        with on_every_worker(hub, workers) as (writers, sockets):
            every_change_reaches_every_socket(writers, sockets, start=after)

        started = time.monotonic()
        assert hub.stop() == 0
        assert time.monotonic() - started < 20
    output = hub.output()
    assert "(2 workers)" in output and "Orchestra hub stopped." in output
    assert "exited with code -9" in output
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists()


@pytest.mark.postgres
@pytest.mark.redis
def test_two_workers_on_postgres_and_redis_are_one_hub_on_one_port(tmp_path: Path) -> None:
    with postgres_database() as database_url:
        env = migrated_env(tmp_path, ORCHESTRA_DATABASE_URL=database_url, ORCHESTRA_REDIS_URL=REDIS_URL)
        with running_hub(env, "--workers", "2", "--no-runner") as hub:
            workers = workers_of(hub, 2)
            with on_every_worker(hub, workers) as (writers, sockets):
                every_change_reaches_every_socket(writers, sockets, start=1)
