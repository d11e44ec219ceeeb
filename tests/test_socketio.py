"""End to end: Socket.IO clients of real ``serve`` processes, as the VSCode extension connects.

The Node script drives the orchestration checklist with the extension's own client library
(socket.io-client 4.8) beside a raw WebSocket client; python-socketio's client covers long-polling
and updates made by other processes (SQLite outbox; PostgreSQL + Redis).
"""

from __future__ import annotations

import queue
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.hub_processes import REDIS_URL, ROOT, HubProcess, hub_env, manage, postgres_database, running_hub

pytestmark = pytest.mark.slow
SERVE_ARGS = ("--no-runner",)
CHECKS = 11


@pytest.fixture(scope="module")
def locked_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """A one-process hub on SQLite with loopback trust off: every client needs the API key."""
    env = hub_env(tmp_path_factory.mktemp("socketio") / "data", ORCHESTRA_TRUST_LOOPBACK="false")
    migrated = manage("migrate", "--noinput", env=env)
    assert migrated.returncode == 0, migrated.stderr
    key = manage("create_api_key", "socketio-tests", env=env).stdout.strip()
    with running_hub(env, *SERVE_ARGS, api_key=key) as hub:
        yield hub


class PollingClient:
    """python-socketio's client held to long-polling; every event lands in a queue."""

    def __init__(self, url: str, key: str | None = None) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda event, data=None: self.events.put((event, data)))
        self.client.on("connect_error", lambda data=None: self.events.put(("connect_error", data)))
        self.client.connect(
            url,
            socketio_path="/orchestration",
            transports=["polling"],
            auth={"token": key} if key else None,
            wait=False,
        )

    def next(self, name: str, timeout: float = 10) -> Any:
        """The data of the next event called ``name``; other events are passed over."""
        while True:
            event, data = self.events.get(timeout=timeout)
            if event == name:
                return data

    def close(self) -> None:
        # Without waiting for the pending long-poll: the server answers it only at its next ping.
        self.client.eio.disconnect(abort=True)

    def __enter__(self) -> PollingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def without_version(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "version"}


def test_the_extensions_client_library_passes_the_checklist_beside_a_raw_socket(locked_hub: HubProcess) -> None:
    result = subprocess.run(
        ["node", str(Path(__file__).with_name("socketio_checklist.js"))],
        cwd=ROOT,
        env={**locked_hub.env, "HUB_URL": locked_hub.url, "HUB_KEY": locked_hub.api_key or ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = [line for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert len(passed) == CHECKS, result.stdout


def test_a_polling_client_gets_what_other_processes_change(locked_hub: HubProcess) -> None:
    """SQLite and the in-memory layer: a command's frames reach serve's Socket.IO clients via the outbox."""
    with PollingClient(locked_hub.url, locked_hub.api_key) as client:
        totals = client.next("orchestration.global")
        client.client.emit("subscribe", {"workspaceId": "my folder"})
        assert client.next("subscribed") == {"workspaceId": "my folder"}
        assert without_version(client.next("orchestration.workspace")) == {
            "workspaceId": "my folder",
            "workspace_id": "my folder",
            "running": 0,
            "desired": 0,
        }

        script = "from orchestration.services import workspace_set_desired as s; s(path='my folder', desired=4)"
        assert manage("shell", "-c", script, env=locked_hub.env).returncode == 0
        changed = client.next("orchestration.global")
        assert changed["desired"] == totals["desired"] + 4
        assert changed["version"] > totals["version"]
        assert client.next("orchestration.workspace") == {
            "workspaceId": "my folder",
            "workspace_id": "my folder",
            "running": 0,
            "desired": 4,
            "version": changed["version"],
        }

        pruned = manage("prune_workspaces", "--older-than", "0s", env=locked_hub.env)
        assert "removed my folder" in pruned.stdout
        assert without_version(client.next("orchestration.global")) == without_version(totals)
        assert without_version(client.next("orchestration.workspace"))["desired"] == 0


def test_without_the_key_a_socketio_client_is_refused(locked_hub: HubProcess) -> None:
    with PollingClient(locked_hub.url) as client:
        assert client.next("connect_error") == {"message": "Authentication required: send auth.token."}
        assert not client.client.connected


@pytest.mark.postgres
@pytest.mark.redis
def test_on_postgres_and_redis_a_change_on_one_serve_reaches_socketio_clients_of_another(tmp_path: Path) -> None:
    with postgres_database() as database_url:
        env = hub_env(tmp_path / "data", ORCHESTRA_DATABASE_URL=database_url, ORCHESTRA_REDIS_URL=REDIS_URL)
        assert manage("migrate", "--noinput", env=env).returncode == 0
        with running_hub(env, *SERVE_ARGS) as first, running_hub(env, *SERVE_ARGS) as second:
            with PollingClient(first.url) as client:
                client.next("orchestration.global")
                client.client.emit("subscribe", {"workspaceId": "@acme/widgets"})
                client.next("orchestration.workspace")
                status, _ = second.request(
                    "PUT", "/api/orchestration/workspace/%40acme%2Fwidgets/desired", {"desired": 5}
                )
                assert status == 200
                assert without_version(client.next("orchestration.global")) == {"running": 0, "desired": 5}
                assert without_version(client.next("orchestration.workspace")) == {
                    "workspaceId": "@acme/widgets",
                    "workspace_id": "@acme/widgets",
                    "running": 0,
                    "desired": 5,
                }
