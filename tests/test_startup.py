"""Bad settings and missing services stop ``serve`` at once, with one line; a Redis outage later is
one warning, and every socket is brought up to date when Redis is back. Real processes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.hub_processes import ROOT, HubProcess, free_port, hub_env, manage, migrate, postgres_database

pytestmark = pytest.mark.slow


def serve_fails(env: dict[str, str], timeout: float = 20) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, (done.stdout + done.stderr).strip(), time.monotonic() - started


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("ORCHESTRA_MAX_DESIRED", "abc", "an integer from 0 to 10000"),
        ("ORCHESTRA_TRUST_LOOPBACK", "maybe", "one of true, 1, yes, on or false, 0, no, off"),
        (
            "ORCHESTRA_CUSTOM_AGENT_COMMAND",
            "mytool,--prompt",
            "a comma-separated argv whose program comes first and one later element is exactly {prompt}",
        ),
        ("ORCHESTRA_STEP_IDLE_TIMEOUT", "soon", "a duration such as 30s, 15m, 24h or 7d"),
        ("ORCHESTRA_PORT", "99999", "an integer from 1 to 65535"),
        ("ORCHESTRA_WORKERS", "0", "an integer from 1 to 64"),
        ("ORCHESTRA_PLANNER_AGENT", "vim", "one of claude, codex, gemini, custom"),
        ("ORCHESTRA_PLAN_CONCURRENCY", "17", "an integer from 1 to 16"),
    ],
)
def test_a_bad_setting_stops_serve_with_one_line(tmp_path: Path, name: str, value: str, allowed: str) -> None:
    code, output, _ = serve_fails(hub_env(tmp_path / "data", **{name: value}))
    assert code != 0
    assert output == f"orchestra: {name}={value!r} is not valid: {allowed}."


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write: a read-only tmpfs as root (whom permissions do not stop), else 0500."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("command", ["serve", "migrate", "runagents"])
def test_a_read_only_data_dir_stops_each_command_with_one_line(read_only_folder: Path, command: str) -> None:
    done = manage(command, env=hub_env(read_only_folder), timeout=30)
    output = (done.stdout + done.stderr).strip()
    reason = "read-only file system" if os.geteuid() == 0 else "it is not writable by this user"
    assert done.returncode != 0
    assert output == f"orchestra: ORCHESTRA_DATA_DIR={str(read_only_folder)!r} cannot be used: {reason}."


@pytest.mark.parametrize("below", ["", "sub"])
def test_a_data_dir_that_is_a_file_stops_start_up_with_one_line(tmp_path: Path, below: str) -> None:
    (tmp_path / "file").write_text("")
    data_dir = tmp_path / "file" / below if below else tmp_path / "file"
    done = manage("migrate", env=hub_env(data_dir), timeout=30)
    output = (done.stdout + done.stderr).strip()
    reason = "not a directory" if below else "it is not a directory"
    assert done.returncode != 0
    assert output == f"orchestra: ORCHESTRA_DATA_DIR={str(data_dir)!r} cannot be used: {reason}."


def test_the_data_dir_and_its_files_are_the_owners_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    (data_dir / "secret_key").write_text("an old key")
    (data_dir / "secret_key").chmod(0o644)  # written before the data dir was private
    assert manage("migrate", env=hub_env(data_dir)).returncode == 0
    database = data_dir / "orchestra.sqlite3"
    with sqlite3.connect(database) as conn:  # SQLite gives -wal and -shm the database file's mode
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data_dir.glob("orchestra.sqlite3*")}
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "secret_key").stat().st_mode) == 0o600
    assert {"orchestra.sqlite3", "orchestra.sqlite3-wal", "orchestra.sqlite3-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}, modes


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ORCHESTRA_DATABASE_URL", "postgres://postgres@127.0.0.1:{port}/orchestra"),
        ("ORCHESTRA_REDIS_URL", "redis://127.0.0.1:{port}/0"),
    ],
)
def test_an_unreachable_service_stops_serve_within_ten_seconds(tmp_path: Path, name: str, value: str) -> None:
    env = hub_env(tmp_path / "data", **{name: value.format(port=free_port())})
    code, output, seconds = serve_fails(env)
    assert code != 0 and seconds < 10
    assert output.startswith(f"CommandError: {name}: cannot reach")
    assert len(output.splitlines()) == 1


def test_serve_on_a_never_migrated_data_dir_migrates_its_embedded_database(tmp_path: Path) -> None:
    hub = HubProcess(hub_env(tmp_path / "fresh"), "--no-runner")
    try:
        assert hub.request("PUT", "/api/orchestration/workspace/%2Fsrv%2Fa/desired", {"desired": 2})[0] == 200
    finally:
        hub.stop()
    assert "Migrating the embedded database" in hub.output()


@pytest.mark.postgres
def test_serve_on_an_unmigrated_postgres_says_what_to_run(tmp_path: Path) -> None:
    with postgres_database() as url:
        code, output, _ = serve_fails(hub_env(tmp_path / "data", ORCHESTRA_DATABASE_URL=url))
    assert code != 0
    assert "run `python manage.py migrate` once" in output and len(output.splitlines()) == 1


def test_a_huge_websocket_frame_is_closed_with_1009_and_a_reason(tmp_path: Path) -> None:
    env = hub_env(tmp_path / "data")
    migrate(env)
    hub = HubProcess(env, "--no-runner")
    try:
        with connect(hub.ws_url + "/orchestration", max_size=None) as ws:
            ws.recv(timeout=5)  # the snapshot
            with pytest.raises(ConnectionClosed) as closed:  # the close may come while the client still sends
                ws.send(json.dumps({"event": "subscribe", "data": {"workspaceId": "x" * (5 * 1024 * 1024)}}))
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        assert "exceeds limit of 1048576 bytes" in closed.value.rcvd.reason
    finally:
        hub.stop()


@contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    import redis

    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(10)


def frames_until(ws: Any, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15) -> list[dict[str, Any]]:
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while not any(predicate(frame) for frame in seen):
        seen.append(json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic()))))
    return seen


@pytest.mark.redis
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs the redis-server program")
def test_a_redis_outage_is_one_warning_and_every_socket_gets_a_fresh_snapshot_after(tmp_path: Path) -> None:
    port = free_port()
    with postgres_database() as url:
        env = hub_env(
            tmp_path / "data",
            ORCHESTRA_DATABASE_URL=url,
            ORCHESTRA_REDIS_URL=f"redis://127.0.0.1:{port}/0",
        )
        with redis_server(port) as redis_process:
            migrate(env)
            hub = HubProcess(env, "--no-runner")
        try:
            redis_process.wait(10)  # Redis is gone now
            with connect(hub.ws_url + "/orchestration") as ws:
                ws.recv(timeout=5)
                ws.send(json.dumps({"event": "subscribe", "data": {"workspaceId": "/srv/a"}}))
                frames_until(ws, lambda f: f["event"] == "orchestration.workspace")
                for desired in (3, 4):
                    status, _ = hub.request(
                        "PUT", "/api/orchestration/workspace/%2Fsrv%2Fa/desired", {"desired": desired}
                    )
                    assert status == 200
                status, health = hub.request("GET", "/health")
                assert isinstance(health, dict)
                assert (status, health["heartbeat_age_seconds"] < 15) == (503, True)
                assert {key: value for key, value in health.items() if key != "heartbeat_age_seconds"} == {
                    "status": "degraded",
                    "version": "2.0.0",
                    "database": True,
                    "database_writable": True,
                    "channel_layer": False,
                    "channel_layer_backend": "redis",
                    "reasons": ["the channel layer does not answer"],
                }
                time.sleep(2)
                with redis_server(port):
                    fresh = frames_until(
                        ws, lambda f: f["event"] == "orchestration.workspace" and f["data"]["desired"] == 4, timeout=20
                    )
                    resync = frames_until(
                        ws, lambda f: f["event"] == "orchestration.workspace" and f["data"]["desired"] == 4, timeout=20
                    )
                    assert fresh and resync
                    assert any(f["event"] == "orchestration.global" and f["data"]["desired"] == 4 for f in resync)
                    deadline = time.monotonic() + 10  # the first check may still meet a dropped connection
                    while hub.request("GET", "/health")[0] != 200:
                        assert time.monotonic() < deadline, "/health stayed degraded after Redis came back"
                        time.sleep(0.2)
                    hub.stop()  # while Redis is up: one outage only
        finally:
            hub.stop()
    output = hub.output()
    assert output.count("does not answer") == 1, output
    assert "Traceback" not in output
