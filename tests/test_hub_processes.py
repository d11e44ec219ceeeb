"""End to end: real ``serve`` processes, real sockets, real PostgreSQL and Redis."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.hub_processes import REDIS_URL, HubProcess, hub_env, manage, postgres_database, running_hub

pytestmark = pytest.mark.slow
SERVE_ARGS = ("--no-runner",)


def migrated_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = hub_env(tmp_path / "data", **overrides)
    result = manage("migrate", "--noinput", env=env)
    assert result.returncode == 0, result.stderr
    return env


def next_event(ws: ClientConnection, name: str, timeout: float = 10) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["event"] == name:
            return frame["data"]  # type: ignore[no-any-return]


def test_serve_answers_http_and_websockets_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    hub = HubProcess(migrated_env(tmp_path), *SERVE_ARGS)
    status, body = hub.request("GET", "/health")
    assert (status, body["status"], body["database"], body["channel_layer"]) == (200, "ok", True, True)  # type: ignore[index]
    with connect(hub.ws_url + "/orchestration") as ws:
        hello = next_event(ws, "orchestration.global")
        assert (hello["running"], hello["desired"]) == (0, 0)
    started = time.monotonic()
    assert hub.stop() == 0
    assert time.monotonic() - started < 15
    assert "Orchestra hub stopped." in hub.output()


def test_commands_in_other_processes_reach_the_clients_of_serve(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    with running_hub(env, *SERVE_ARGS) as hub, connect(hub.ws_url + "/orchestration") as ws:
        next_event(ws, "orchestration.global")
        hub.request("PUT", "/api/orchestration/workspace/%2Fold%2Frepo", {"desired": 4})
        assert next_event(ws, "orchestration.global")["desired"] == 4

        script = "from orchestration.services import workspace_set_desired as s; s(path='/other', desired=2)"
        assert manage("shell", "-c", script, env=env).returncode == 0
        assert next_event(ws, "orchestration.global")["desired"] == 6

        pruned = manage("prune_workspaces", "--older-than", "0s", env=env)
        assert "Pruned 2 workspace(s)." in pruned.stdout
        assert next_event(ws, "orchestration.global")["desired"] == 0


def test_desired_survives_a_restart_and_running_is_reset(tmp_path: Path) -> None:
    env = migrated_env(tmp_path)
    with running_hub(env, *SERVE_ARGS) as hub:
        hub.request("PUT", "/api/orchestration/workspace/%2Frepo", {"desired": 3})
        hub.request("PUT", "/api/orchestration/workspace/%2Frepo/running", {"running": 2})
    with running_hub(env, *SERVE_ARGS) as hub:
        assert hub.request("GET", "/api/orchestration/workspace/%2Frepo") == (
            200,
            {
                "workspace": {"id": "/repo", "workspace_id": "/repo", "running": 0, "desired": 3},
                "global": {"running": 0, "desired": 3},
            },
        )


@pytest.mark.postgres
@pytest.mark.redis
def test_two_serve_processes_on_postgres_and_redis_are_one_hub(tmp_path: Path) -> None:
    with postgres_database() as database_url:
        env = migrated_env(tmp_path, ORCHESTRA_DATABASE_URL=database_url, ORCHESTRA_REDIS_URL=REDIS_URL)
        with running_hub(env, *SERVE_ARGS) as first, running_hub(env, *SERVE_ARGS) as second:
            with connect(first.ws_url + "/orchestration") as ws:
                next_event(ws, "orchestration.global")
                ws.send(json.dumps({"event": "subscribe", "data": {"workspaceId": "/shared/repo"}}))
                next_event(ws, "orchestration.workspace")
                status, _ = second.request("PUT", "/api/orchestration/workspace/%2Fshared%2Frepo", {"desired": 5})
                assert status == 200
                assert next_event(ws, "orchestration.workspace")["desired"] == 5
                assert first.request("GET", "/api/orchestration/global") == (200, {"running": 0, "desired": 5})
