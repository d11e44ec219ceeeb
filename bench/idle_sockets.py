"""2. Idle sockets: 10 000 ``/orchestration`` WebSockets held open by one ``serve``, and its memory.

The clients are spread over a few child processes (``python -m bench.idle_sockets PORT COUNT
PATH``), each a lean client (``bench.ws_client``); every socket reads its connect snapshot and
then stays idle. The hub's resident memory (``VmRSS`` of ``/proc/<pid>/status``) is read before the
first socket and once all are open and the hub is quiet again; the difference over the number of
sockets is the memory per socket.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.hubs import LAYER_LABEL, BenchHub, bench_hub, raise_open_files_limit
from bench.report import Section, Table
from bench.ws_client import LeanWebSocket, connect

SOCKETS = 10_000
CLIENT_PROCESSES = 4
TARGET_KIB = 50
# Reading frames needs little room: a socket that only gets a snapshot keeps its buffer small.
CLIENT_READ_SIZE = 2048
PATHS = {"raw WebSocket": "/orchestration", "Socket.IO": "/orchestration/?EIO=4&transport=websocket"}
SETTLE_SECONDS = 3.0
CONNECT_ATTEMPTS = 3
# What a socket costs does not depend on the layer: with Redis the process joins each group once,
# on one channel of its own, whatever the number of its sockets.
LAYER = "memory"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


async def hold(port: int, count: int, path: str) -> None:
    """A child: open ``count`` sockets, read each one's snapshot, report, hold them until stdin closes."""
    gate = asyncio.Semaphore(32)
    failed = 0

    async def one() -> LeanWebSocket | None:
        """A socket with its snapshot read; a handshake that times out on a busy machine is retried."""
        nonlocal failed
        for _ in range(CONNECT_ATTEMPTS):
            async with gate:
                try:
                    return await open_idle(port, path)
                except (OSError, TimeoutError):  # a dropped handshake, a socket closed before its snapshot
                    continue
        failed += 1
        return None

    sockets = await asyncio.gather(*(one() for _ in range(count)))
    print(f"ready {count - failed} {failed}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.wait([asyncio.create_task(ws.close()) for ws in sockets if ws is not None], timeout=30)


async def open_idle(port: int, path: str) -> LeanWebSocket:
    ws = await connect("127.0.0.1", port, path, read_size=CLIENT_READ_SIZE, timeout=120)
    try:
        if "EIO=" in path:
            await next_message(ws)  # Engine.IO open
            ws.send_text("40")
            await next_message(ws)  # Socket.IO connect
        await next_message(ws)  # the global snapshot
    except BaseException:
        assert ws.transport is not None
        ws.transport.abort()
        raise
    ws.on_message = lambda message: ws.send_text("3") if message == b"2" else None  # Engine.IO's ping
    return ws


async def next_message(ws: LeanWebSocket) -> bytes:
    """The next message that is not Engine.IO's ping (answered: a busy handshake may outlast 25 s)."""
    while (message := await asyncio.wait_for(ws.recv(), 120)) == b"2":
        ws.send_text("3")
    return message


def start_clients(port: int, total: int, path: str) -> list[subprocess.Popen[str]]:
    share, extra = divmod(total, CLIENT_PROCESSES)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "bench.idle_sockets", str(port), str(share + (i < extra)), path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(CLIENT_PROCESSES)
    ]


@contextmanager
def idle_clients(port: int, total: int, path: str) -> Iterator[tuple[int, int]]:
    """``total`` idle sockets held by child processes while the block runs: (opened, failed)."""
    clients = start_clients(port, total, path)
    opened = failed = 0
    try:
        for client in clients:
            assert client.stdout is not None
            word, ok, bad = client.stdout.readline().split()
            assert word == "ready", word
            opened, failed = opened + int(ok), failed + int(bad)
        yield opened, failed
    finally:
        for client in clients:
            assert client.stdin is not None
            client.stdin.close()
        for client in clients:
            try:
                client.wait(60)
            except subprocess.TimeoutExpired:
                client.kill()


def measure(hub: BenchHub, path: str) -> dict[str, float]:
    asyncio.run(warm_up(hub.port, path))
    time.sleep(SETTLE_SECONDS)
    before, fds_before = rss_kib(hub.pid), open_fds(hub.pid)
    started = time.perf_counter()
    with idle_clients(hub.port, SOCKETS, path) as (opened, failed):
        connect_seconds = time.perf_counter() - started
        time.sleep(SETTLE_SECONDS)
        after, fds_after = rss_kib(hub.pid), open_fds(hub.pid)
    return {
        "opened": opened,
        "failed": failed,
        "before": before,
        "after": after,
        "per_socket": (after - before) / max(opened, 1),
        "fds": fds_after - fds_before,
        "connect": connect_seconds,
    }


async def warm_up(port: int, path: str) -> None:
    """One socket first, so the imports and threads of the first connection are not counted."""
    ws = await connect("127.0.0.1", port, path)
    if "EIO=" in path:
        await ws.recv()
        ws.send_text("40")
        await ws.recv()
    await ws.recv()
    await ws.close()


def run() -> Section:
    section = Section(
        key="idle_sockets",
        title=f"1b. Idle sockets ({SOCKETS} /orchestration WebSockets held by one serve)",
        target=f"{SOCKETS} sockets open in one process, under {TARGET_KIB} KiB of resident memory per socket",
    )
    table = Table(
        ["Layer", "Socket", "Open", "Failed", "RSS before MiB", "RSS after MiB", "KiB per socket", "Connect all (s)"]
    )
    verdicts: list[bool] = []
    for socket, path in PATHS.items():
        with bench_hub(LAYER) as hub:
            result = measure(hub, path)
        table.add(
            LAYER_LABEL[LAYER],
            socket,
            int(result["opened"]),
            int(result["failed"]),
            f"{result['before'] / 1024:.0f}",
            f"{result['after'] / 1024:.0f}",
            f"{result['per_socket']:.1f}",
            f"{result['connect']:.1f}",
        )
        verdicts.append(result["opened"] == SOCKETS and result["per_socket"] < TARGET_KIB)
    section.tables.append(table)
    section.met = bool(verdicts) and all(verdicts)
    section.notes += [
        f"One serve per row; {CLIENT_PROCESSES} client processes open the sockets (32 handshakes at a time "
        "each); every socket reads its connect snapshot (the global totals) and then stays idle in the "
        "orchestration.global group.",
        "KiB per socket: (VmRSS once all sockets are open and the hub has been quiet for "
        f"{SETTLE_SECONDS:.0f} s minus VmRSS before the first of them) / open sockets. One socket is opened "
        "and closed first, so what the first connection loads once is not counted.",
        "In-memory layer only: with Redis a process joins each group once, on one channel of its own, so a "
        "socket costs the same on both layers.",
        f"A handshake that fails on a busy machine is retried ({CONNECT_ATTEMPTS} attempts); Failed counts the "
        "sockets that never opened.",
    ]
    return section


if __name__ == "__main__":
    raise_open_files_limit()
    asyncio.run(hold(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
