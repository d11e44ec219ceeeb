"""The parent's side of ``serve --workers N`` with real child processes standing in for workers
(``WorkerPool.worker_command``), and a worker's side of the relay. The whole thing, with real
``serve`` workers, is in tests/test_serve_workers.py."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_site import workers
from orchestra_site.workers import WorkerPool, listen


class ScriptPool(WorkerPool):
    def __init__(self, sockets: list[socket.socket], script: str) -> None:
        super().__init__(sockets)
        self.script = script

    def worker_command(self, fd: int) -> list[str]:
        return [sys.executable, "-c", self.script, str(fd)]


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened = listen("127.0.0.1", 0, 1)
    port = opened[0].getsockname()[1]
    opened[0].close()
    opened = listen("127.0.0.1", port, 2)
    yield opened
    for sock in opened:
        sock.close()


def test_the_workers_sockets_share_one_port_and_a_taken_port_is_refused(sockets: list[socket.socket]) -> None:
    port = sockets[0].getsockname()[1]
    assert [sock.getsockname() for sock in sockets] == [("127.0.0.1", port)] * 2
    assert all(sock.get_inheritable() for sock in sockets)
    with pytest.raises(OSError, match="in use"):
        listen("127.0.0.1", port, 2)


def test_a_one_process_hub_gets_one_socket_that_its_children_do_not_inherit() -> None:
    [sock] = listen("localhost", 0, 1)
    with sock:
        assert sock.family == socket.AF_INET  # localhost is 127.0.0.1, where loopback trust looks
        assert not sock.get_inheritable()
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)


def test_workers_listen_on_an_ipv6_address_too() -> None:
    try:
        opened = listen("::1", 0, 1)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    port = opened[0].getsockname()[1]
    opened[0].close()
    opened = listen("::1", port, 2)
    try:
        assert [sock.getsockname()[:2] for sock in opened] == [("::1", port)] * 2
    finally:
        for sock in opened:
            sock.close()


async def test_rows_reach_every_worker_in_order_as_json_lines(sockets: list[socket.socket], tmp_path: Path) -> None:
    script = (
        f"import sys\nwith open('{tmp_path}/' + sys.argv[1], 'wb') as out:\n"
        "    for line in sys.stdin.buffer:\n        out.write(line); out.flush()"
    )
    pool = ScriptPool(sockets, script)
    await pool.start()
    await pool.forward([(1, "a" * 32, "project.1", '{"event":"x"}', 3), (2, "b" * 32, "g", "t\nu", None)])
    await pool.forward([(3, "a" * 32, "project.1", '{"event":"y"}', 4)])
    files = [tmp_path / str(sock.fileno()) for sock in sockets]
    for _ in range(200):
        if all(path.exists() and path.read_bytes().count(b"\n") == 3 for path in files):
            break
        await asyncio.sleep(0.05)
    await pool.stop(timeout=10)
    for sock in sockets:
        lines = (tmp_path / str(sock.fileno())).read_bytes().splitlines()
        assert [json.loads(line) for line in lines] == [
            ["a" * 32, "project.1", '{"event":"x"}', 3],
            ["b" * 32, "g", "t\nu", None],
            ["a" * 32, "project.1", '{"event":"y"}', 4],
        ]


async def test_a_worker_that_exits_is_replaced_on_its_socket(sockets: list[socket.socket], tmp_path: Path) -> None:
    script = (
        f"import os, sys, time\nfirst = '{tmp_path}/' + sys.argv[1] + '-first'\n"
        "if not os.path.exists(first):\n    open(first, 'w').close(); sys.exit(0)\n"
        f"open('{tmp_path}/' + sys.argv[1] + '-second', 'w').close(); time.sleep(60)"
    )
    pool = ScriptPool(sockets, script)
    await pool.start()
    stop = asyncio.Event()
    watching = asyncio.ensure_future(pool.watch(stop))
    for _ in range(200):
        if len(list(tmp_path.glob("*-second"))) == 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    assert await watching is None
    assert len(pool.workers) == 2
    await pool.stop(timeout=10)
    fds = [str(sock.fileno()) for sock in sockets]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"{fd}-first" for fd in fds] + [f"{fd}-second" for fd in fds]
    )  # each socket's worker exited once and was started again on that socket


async def test_workers_that_keep_exiting_stop_the_hub(
    sockets: list[socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "CRASH_LIMIT", 3)
    pool = ScriptPool(sockets, "raise SystemExit(3)")
    await pool.start()
    message = await asyncio.wait_for(pool.watch(asyncio.Event()), timeout=30)
    assert message == "hub workers keep exiting (3 in 60s, the last with code 3); stopping the hub"
    await pool.stop(timeout=10)
