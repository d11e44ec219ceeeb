"""End to end: real ``serve`` processes, real sockets, real PostgreSQL and Redis."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.hub_processes import REDIS_URL, ROOT, HubProcess, hub_env, manage, migrate, postgres_database, running_hub

pytestmark = pytest.mark.slow
SERVE_ARGS = ("--no-runner",)


def migrated_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = hub_env(tmp_path / "data", **overrides)
    migrate(env)
    return env


def next_event(ws: ClientConnection, name: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame["event"] == name:
            return frame["data"]


def test_serve_answers_http_and_websockets_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    hub = HubProcess(migrated_env(tmp_path), *SERVE_ARGS)
    status, body = hub.request("GET", "/health")
    assert (status, body["status"], body["database"], body["channel_layer"]) == (200, "ok", True, True)
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


def test_the_project_socket_of_serve_gets_node_events(tmp_path: Path) -> None:
    with running_hub(migrated_env(tmp_path), *SERVE_ARGS) as hub:
        status, project = hub.request("POST", "/projects", {"name": "Live"})
        assert status == 201
        with connect(f"{hub.ws_url}/projects/{project['id']}/subscribe") as ws:
            status, node = hub.request("POST", f"/projects/{project['id']}/nodes", {"title": "First"})
            frame = json.loads(ws.recv(timeout=10))
            assert frame == {"event": "node.created", "data": node}
            hub.request("DELETE", f"/projects/{project['id']}/nodes/{node['id']}")
            assert json.loads(ws.recv(timeout=10)) == {"event": "node.deleted", "data": {"id": node["id"]}}


def test_runagents_beside_a_one_process_serve_reaches_its_clients(tmp_path: Path) -> None:
    """Embedded default (SQLite, in-memory layer): the runner's events travel through the outbox."""
    agent = f"{sys.executable},{ROOT / 'bench' / 'fake_agent.py'},{{prompt}}"
    env = migrated_env(tmp_path, ORCHESTRA_CUSTOM_AGENT_COMMAND=agent)
    with running_hub(env, *SERVE_ARGS) as hub:
        runner = subprocess.Popen([sys.executable, "manage.py", "runagents"], cwd=ROOT, env=env)
        try:
            _, project = hub.request("POST", "/projects", {"name": "Beside"})
            pid = project["id"]
            _, node = hub.request("POST", f"/projects/{pid}/nodes", {"title": "n"})
            _, template = hub.request(
                "POST",
                "/agent-templates",
                {"name": "one", "steps": [{"name": "S", "agent_type": "custom", "prompt_template": "1"}]},
            )
            with connect(f"{hub.ws_url}/projects/{pid}/subscribe") as ws:
                status, execution = hub.request(
                    "POST",
                    f"/projects/{pid}/nodes/{node['id']}/launch",
                    {"template_id": template["id"]},
                )
                assert status == 201
                seen = []
                while ("execution.updated", "completed") not in seen:
                    frame = json.loads(ws.recv(timeout=30))
                    seen.append((frame["event"], frame["data"].get("status")))
                assert ("step_run.updated", "running") in seen
            _, done = hub.request("GET", f"/projects/{pid}/executions/{execution['id']}")
            output = done["step_runs"][0]["output"]
            assert output.endswith(f"done: 1 in {project['workspace_path']}")
        finally:
            runner.send_signal(signal.SIGTERM)
            assert runner.wait(30) == 0
