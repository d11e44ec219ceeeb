"""End to end: a stopping ``serve`` lets go of its Socket.IO clients at once, and they come back.

Real hub processes (on SQLite, and on PostgreSQL + Redis), stopped with SIGTERM and started again
on the same port; the clients are the two that matter: socket.io-client 4.8 (the VSCode
extension's, run by Node) and python-socketio's client, each over WebSocket and held to
long-polling, with their own automatic reconnection. Beside them, two long-polling clients that
have just gone away, spoken to in plain HTTP: one told the hub it was leaving (its last GET still
waits), one just dropped its connection.
"""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import socketio

from tests.hub_processes import REDIS_URL, ROOT, HubProcess, hub_env, migrate, postgres_database

pytestmark = pytest.mark.slow
SERVE_ARGS = ("--no-runner",)
STOP_LIMIT = 2.0  # seconds from SIGTERM to the process's exit
RECONNECT_LIMIT = 10.0
NOISE = ("Traceback", "ERROR", "Task was destroyed", "cancel", "Cancel")

Events = queue.Queue[tuple[str, str, Any]]  # (client, event, data)


class PythonClient:
    """python-socketio's client as an application would keep it: reconnecting by itself."""

    def __init__(self, url: str, transport: str, events: Events) -> None:
        """``transport`` "websocket", "polling", or "upgraded" (the client's default: polling, then
        WebSocket)."""
        self.name = f"python {transport}"
        self.client = socketio.Client(reconnection_delay=0.1, reconnection_delay_max=0.3, randomization_factor=0)
        self.client.on("connect", lambda: events.put((self.name, "connect", transport)))
        self.client.on("disconnect", lambda reason=None: events.put((self.name, "disconnect", reason)))
        self.client.on("orchestration.global", lambda data: events.put((self.name, "orchestration.global", data)))
        transports = ["polling", "websocket"] if transport == "upgraded" else [transport]
        self.client.connect(url, socketio_path="/orchestration", transports=transports, wait_timeout=10)


class NodeClients:
    """``socketio_reconnect.js``: socket.io-client over WebSocket and over long-polling."""

    names = ("node websocket", "node polling", "node upgraded")

    def __init__(self, url: str, events: Events) -> None:
        self.process = subprocess.Popen(
            ["node", str(Path(__file__).with_name("socketio_reconnect.js"))],
            cwd=ROOT,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HUB_URL": url},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.reader = threading.Thread(target=self.read, args=(events,), daemon=True)
        self.reader.start()

    def read(self, events: Events) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            report = json.loads(line)
            events.put((report["client"], report["event"], report["data"]))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


Wanted = tuple[str, Callable[[Any], bool]]  # an event's name, and what its data must satisfy


def wait_for(events: Events, wanted: dict[str, list[Wanted]], timeout: float = RECONNECT_LIMIT) -> dict[str, list[Any]]:
    """Wait until each client named in ``wanted`` got each of its events, in any order.
    Returns every event each client got meanwhile."""
    seen: dict[str, list[Any]] = {}
    missing = {client: list(conditions) for client, conditions in wanted.items()}
    deadline = time.monotonic() + timeout
    while any(missing.values()):
        try:
            client, event, data = events.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise AssertionError(f"still waiting for {missing}; got {seen}") from None
        seen.setdefault(client, []).append((event, data))
        for condition in missing.get(client, []):
            if condition[0] == event and condition[1](data):
                missing[client].remove(condition)
                break
    return seen


def from_each(
    names: list[str], event: str, matches: Callable[[Any], bool] = lambda data: True
) -> dict[str, list[Wanted]]:
    return {name: [(event, matches)] for name in names}


def engineio_handshake(hub: HubProcess) -> str:
    """A long-polling client's first request and its Socket.IO connect; returns its session id."""
    base = hub.url + "/orchestration/?EIO=4&transport=polling"
    with urllib.request.urlopen(base, timeout=5) as response:
        sid = str(json.loads(response.read().decode()[1:])["sid"])
    request = urllib.request.Request(f"{base}&sid={sid}", data=b"40", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == b"OK"
    received = b""
    while b"orchestration.global" not in received:  # the connect answer, then the snapshot
        with urllib.request.urlopen(f"{base}&sid={sid}", timeout=5) as response:
            received += response.read()
    assert received.startswith(b"40{"), received
    return sid


def long_poll(hub: HubProcess, sid: str) -> socket.socket:
    """A GET for the session's next packets, as a polling client always has one waiting."""
    connection = socket.create_connection(("127.0.0.1", hub.port), timeout=5)
    path = f"/orchestration/?EIO=4&transport=polling&sid={sid}"
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n\r\n".encode())
    return connection


def a_client_that_said_goodbye(hub: HubProcess) -> None:
    """Its last GET is waiting when it sends the Engine.IO CLOSE packet and leaves."""
    sid = engineio_handshake(hub)
    long_poll(hub, sid)  # left open, never read: the client has gone
    time.sleep(0.1)  # the hub is now waiting to answer it
    request = urllib.request.Request(
        f"{hub.url}/orchestration/?EIO=4&transport=polling&sid={sid}", data=b"1", method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.read() == b"OK"


def a_client_whose_connection_dropped(hub: HubProcess) -> None:
    """It went away in the middle of a long-poll, without a word."""
    connection = long_poll(hub, engineio_handshake(hub))
    time.sleep(0.1)
    connection.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres+redis", id="postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """One hub's environment: the embedded default, or PostgreSQL with the Redis channel layer
    (where the disconnect handlers of the stop leave Redis groups)."""
    if request.param == "sqlite":
        env = hub_env(tmp_path / "data")
        migrate(env)
        yield env
        return
    with postgres_database() as database_url:
        env = hub_env(tmp_path / "data", ORCHESTRA_DATABASE_URL=database_url, ORCHESTRA_REDIS_URL=REDIS_URL)
        migrate(env)
        yield env


@pytest.fixture
def first_hub(env: dict[str, str]) -> Iterator[HubProcess]:
    hub = HubProcess(env, *SERVE_ARGS)
    try:
        yield hub
    finally:
        hub.stop()


def stop_timed(hub: HubProcess) -> tuple[float, str]:
    started = time.monotonic()
    assert hub.stop(timeout=15) == 0
    return time.monotonic() - started, hub.output()


def test_a_stopping_hub_lets_go_of_every_socketio_client_at_once_and_each_reconnects_when_it_is_back(
    env: dict[str, str], first_hub: HubProcess
) -> None:
    events: Events = queue.Queue()
    node = NodeClients(first_hub.url, events)
    python = [PythonClient(first_hub.url, transport, events) for transport in ("websocket", "polling", "upgraded")]
    names = [*NodeClients.names, *(client.name for client in python)]
    try:
        snapshot: list[Wanted] = [("orchestration.global", lambda data: True)]
        upgrade: list[Wanted] = [("upgrade", lambda data: data == "websocket")]
        wait_for(events, {name: snapshot + upgrade if name == "node upgraded" else snapshot for name in names})
        deadline = time.monotonic() + RECONNECT_LIMIT
        while python[2].client.transport() != "websocket" and time.monotonic() < deadline:  # upgraded
            time.sleep(0.05)
        assert python[2].client.transport() == "websocket"
        a_client_that_said_goodbye(first_hub)
        a_client_whose_connection_dropped(first_hub)

        took, output = stop_timed(first_hub)
        assert took < STOP_LIMIT, output
        assert not [word for word in NOISE if word in output], output
        gone = wait_for(events, from_each(names, "disconnect"))
        reasons = {name: [data for event, data in got if event == "disconnect"] for name, got in gone.items()}
        # Lost connections, not a server's disconnect: python-socketio reconnects only after these.
        assert reasons == {
            "node websocket": ["transport close"],
            "node polling": [reasons["node polling"][0]],
            "node upgraded": ["transport close"],
            "python websocket": ["transport error"],
            "python polling": ["transport error"],
            "python upgraded": ["transport error"],
        }
        assert reasons["node polling"][0] in ("transport close", "transport error")

        second = HubProcess(env, *SERVE_ARGS, port=first_hub.port)
        try:
            wait_for(events, from_each(names, "connect"))
            status, answer = second.request("PUT", "/api/orchestration/workspace/back/desired", {"desired": 3})
            assert status == 200
            desired = cast(dict[str, Any], answer)["global"]["desired"]
            wait_for(events, from_each(names, "orchestration.global", lambda data: data["desired"] == desired))
        finally:
            took, output = stop_timed(second)
        assert took < STOP_LIMIT, output
        assert not [word for word in NOISE if word in output], output
    finally:
        for client in python:
            client.client.disconnect()
        node.close()
