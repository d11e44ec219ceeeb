"""End to end: Socket.IO clients of real ``serve`` processes, as the VSCode extension connects.

The Node script drives the orchestration checklist with the extension's own client library
(socket.io-client 4.8) beside a raw WebSocket client; python-socketio's client covers long-polling
and updates made by other processes (SQLite outbox; PostgreSQL + Redis).
"""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from websockets.asyncio.client import connect

from tests.hub_processes import REDIS_URL, ROOT, HubProcess, hub_env, manage, migrate, postgres_database, running_hub

pytestmark = pytest.mark.slow
SERVE_ARGS = ("--no-runner",)
CHECKS = 11
ORDERED_CLIENTS, ORDERED_CHANGES = 30, 20  # changes per workspace; desired is at most 20


@pytest.fixture(scope="module")
def locked_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """A one-process hub on SQLite with loopback trust off: every client needs the API key."""
    env = hub_env(tmp_path_factory.mktemp("socketio") / "data", ORCHESTRA_TRUST_LOOPBACK="false")
    migrate(env)
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


@pytest.mark.parametrize("query", ["j=0", "j=", "j"])
def test_jsonp_polling_is_refused(locked_hub: HubProcess, query: str) -> None:
    """A JSONP answer is a script any page may load with a ``<script>`` tag."""
    url = f"{locked_hub.url}/orchestration/?EIO=4&transport=polling&{query}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 400
    assert "JSONP" in json.loads(refused.value.read())["detail"]
    with urllib.request.urlopen(url.removesuffix(f"&{query}"), timeout=5) as plain:  # the same without j: served
        assert plain.status == 200 and plain.read().startswith(b"0{")


@pytest.mark.postgres
@pytest.mark.redis
def test_on_postgres_and_redis_a_change_on_one_serve_reaches_socketio_clients_of_another(tmp_path: Path) -> None:
    with postgres_database() as database_url:
        env = hub_env(tmp_path / "data", ORCHESTRA_DATABASE_URL=database_url, ORCHESTRA_REDIS_URL=REDIS_URL)
        migrate(env)
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


async def socketio_packets_until(hub: HubProcess, last_desired: int) -> list[str]:
    """Engine.IO over WebSocket as socket.io-client speaks it: every packet the client gets, until
    an ``orchestration.global`` frame carries ``last_desired`` (pings are answered, not kept)."""
    async with connect(hub.ws_url + "/orchestration/?EIO=4&transport=websocket", ping_interval=None) as ws:
        packets = [str(await ws.recv())]
        await ws.send("40" + json.dumps({"token": hub.api_key}))
        while True:
            packet = str(await asyncio.wait_for(ws.recv(), 30))
            if packet == "2":
                await ws.send("3")
                continue
            packets.append(packet)
            if packet.startswith("42") and json.loads(packet[2:])[1].get("desired") == last_desired:
                return packets


def test_socketio_clients_connecting_during_changes_get_open_connect_snapshot_then_newer_events(
    locked_hub: HubProcess,
) -> None:
    """The order a client relies on, whoever writes its packets (a message may go straight to an idle
    socket, or through Engine.IO's queue and writer): the open packet, the connect answer, the
    snapshot, then only events newer than it, versions strictly increasing, none missed at the end."""
    paths = [f"/api/orchestration/workspace/%2Fordered%2F{name}/desired" for name in "ab"]
    status, answer = locked_hub.request("PUT", paths[0], {"desired": 0})
    assert status == 200 and isinstance(answer, dict)
    last_total = answer["global"]["desired"] + ORDERED_CHANGES * len(paths)  # other tests' workspaces too

    def change() -> None:
        for path in paths:
            for desired in range(1, ORDERED_CHANGES + 1):  # the global desired goes up by 1 each time
                assert locked_hub.request("PUT", path, {"desired": desired})[0] == 200

    async def clients() -> list[list[str]]:
        changing = threading.Thread(target=change)
        readers = []
        for i in range(ORDERED_CLIENTS):
            readers.append(asyncio.create_task(socketio_packets_until(locked_hub, last_total)))
            if i == 2:
                changing.start()  # most clients connect while the changes go out
            await asyncio.sleep(0.01)
        results = await asyncio.gather(*readers)
        changing.join()
        return results

    for packets in asyncio.run(clients()):
        assert packets[0].startswith("0{")
        assert packets[1].startswith('40{"sid":')
        frames = [json.loads(packet[2:]) for packet in packets[2:]]
        assert all(packet.startswith("42") for packet in packets[2:]), packets
        assert {name for name, _ in frames} == {"orchestration.global"}
        versions = [data["version"] for _, data in frames]
        assert versions == sorted(set(versions)), versions
        assert frames[-1][1]["desired"] == last_total
