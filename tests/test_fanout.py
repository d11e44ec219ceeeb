"""Fan-out end to end: every socket of a real ``serve`` gets every frame, in order, on both layers,
whatever one stalled or vanished client does."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.hub_processes import REDIS_URL, HubProcess, hub_env, migrate, postgres_database, running_hub

pytestmark = pytest.mark.slow
RAW_CLIENTS, SOCKETIO_CLIENTS, CHANGES = 40, 20, 30
WORKSPACES = ("/fan/out/a", "/fan/out/b")


@contextmanager
def hub_on(layer: str, tmp_path: Path) -> Iterator[HubProcess]:
    with postgres_database() if layer == "redis" else nullcontext("") as database_url:
        overrides = {"ORCHESTRA_DATABASE_URL": database_url, "ORCHESTRA_REDIS_URL": REDIS_URL} if database_url else {}
        env = hub_env(tmp_path / "data", **overrides)
        migrate(env)
        with running_hub(env, "--no-runner") as hub:
            yield hub


async def raw_client(hub: HubProcess) -> ClientConnection:
    ws = await connect(hub.ws_url + "/orchestration", ping_interval=None)
    assert json.loads(await ws.recv())["event"] == "orchestration.global"
    return ws


async def socketio_client(hub: HubProcess) -> ClientConnection:
    ws = await connect(hub.ws_url + "/orchestration/?EIO=4&transport=websocket", ping_interval=None)
    assert str(await ws.recv()).startswith("0{")
    await ws.send("40")
    assert str(await ws.recv()).startswith("40{")
    assert '"orchestration.global"' in str(await ws.recv())
    return ws


def global_desired(message: str | bytes, socketio: bool) -> tuple[int, int] | None:
    """(version, desired) of an ``orchestration.global`` frame, else None."""
    text = message if isinstance(message, str) else message.decode()
    if socketio:
        if not text.startswith("42"):
            return None
        name, data = json.loads(text[2:])
    else:
        frame = json.loads(text)
        name, data = frame["event"], frame["data"]
    return (data["version"], data["desired"]) if name == "orchestration.global" else None


async def collect(ws: ClientConnection, socketio: bool, last: int) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    while not seen or seen[-1][1] != last:
        message = await asyncio.wait_for(ws.recv(), 30)
        if socketio and message == "2":
            await ws.send("3")
        elif (frame := global_desired(message, socketio)) is not None:
            seen.append(frame)
    return seen


def stalled_client(hub: HubProcess) -> socket.socket:
    """A handshake, then never a byte read."""
    sock = socket.create_connection(("127.0.0.1", hub.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(
        f"GET /orchestration HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\nUpgrade: websocket\r\n".encode()
        + b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def vanished_client(hub: HubProcess) -> None:
    """A handshake, then a reset: the hub's writes to it fail."""
    sock = stalled_client(hub)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("layer", ["memory", "redis"])
async def test_every_socket_gets_every_change_in_order_beside_a_stalled_and_a_vanished_one(
    layer: str, tmp_path: Path
) -> None:
    with hub_on(layer, tmp_path) as hub:
        raw = [await raw_client(hub) for _ in range(RAW_CLIENTS)]
        sio = [await socketio_client(hub) for _ in range(SOCKETIO_CLIENTS)]
        stalled = stalled_client(hub)
        vanished_client(hub)
        # Each change is a PUT answered after its commit, so every one is a frame every socket must get.
        values = [(WORKSPACES[i % 2], i // 2 + 1) for i in range(CHANGES)]
        totals, current = [], dict.fromkeys(WORKSPACES, 0)
        for path, desired in values:
            current[path] = desired
            totals.append(sum(current.values()))
        readers = [asyncio.create_task(collect(ws, False, totals[-1])) for ws in raw]
        readers += [asyncio.create_task(collect(ws, True, totals[-1])) for ws in sio]
        for path, desired in values:
            url = f"/api/orchestration/workspace/{path.replace('/', '%2F')}/desired"
            status, _ = await asyncio.to_thread(hub.request, "PUT", url, {"desired": desired})
            assert status == 200
        for seen in await asyncio.gather(*readers):
            assert [desired for _, desired in seen] == totals
            versions = [version for version, _ in seen]
            assert versions == sorted(set(versions))
        stalled.close()
        for ws in raw + sio:
            await ws.close()
