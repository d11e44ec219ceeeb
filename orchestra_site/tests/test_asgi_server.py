"""The hub's uvicorn settings, on a real socket with a real client: what the server tells the
application about a request is what the connection is, whatever headers the client sends."""

from __future__ import annotations

import asyncio
import http.client
import json
import resource
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orchestra_site.asgi_server import ConnectionTable, HubServer, connection_cap, server_config
from orchestra_site.workers import listen
from tests.hub_processes import HubProcess, hub_env


async def scope_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An application that answers with the client address and scheme it was given."""
    body = json.dumps({"client": scope["client"][0], "scheme": scope["scheme"]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def get(port: int, headers: dict[str, str]) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
    writer.write(("".join(lines) + "\r\n").encode())
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return json.loads(body)


async def test_forwarded_headers_from_loopback_change_neither_the_client_nor_the_scheme() -> None:
    """uvicorn would trust X-Forwarded-For/-Proto from 127.0.0.1 by default: a local process could
    then pass for another client, or for HTTPS, to the loopback trust and the Host/Origin checks."""
    [sock] = listen("127.0.0.1", 0, 1)
    port = sock.getsockname()[1]
    started = asyncio.Event()
    server = HubServer(server_config(scope_echo), ready=started.set)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(started.wait(), 10)
        forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "Forwarded": "for=203.0.113.9"}
        assert await get(port, forwarded) == {"client": "127.0.0.1", "scheme": "http"}
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)


# --- A real ``serve`` under a flood of half-open connections ---------------------------------------

FLOOD = 2000
HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def flooded_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """A hub started with a soft limit of 1024 open files, as many machines have: 2000 half-open
    connections would exhaust it. The caps are small so the test needs no more."""
    env = hub_env(
        tmp_path_factory.mktemp("flood"),
        ORCHESTRA_HEADER_TIMEOUT="1s",
        ORCHESTRA_MAX_CONNECTIONS="500",
        ORCHESTRA_MAX_CONNECTIONS_PER_CLIENT="100",
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    try:
        hub = HubProcess(env)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield hub
    finally:
        hub.stop()


def half_open(port: int, source: str, *, slow_body: bool = False) -> socket.socket:
    """A connection that sends the start of a request and never its end: part of the headers, or
    (``slow_body``) the headers and a trickle of the body."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    if slow_body:
        head = f"POST /projects HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 1000\r\n\r\n"
        sock.sendall(head.encode() + b'{"name": ')
    else:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
    return sock


def still_open(socks: list[socket.socket]) -> list[socket.socket]:
    """The sockets the server has not closed (a closed one reads EOF or a reset at once)."""
    poller = select.poll()
    by_fd = {sock.fileno(): sock for sock in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    time.sleep(0.2)
    closed = set()
    for fd, _event in poller.poll(0):
        sock = by_fd[fd]
        try:
            if sock.recv(1) == b"":
                closed.add(sock)
        except OSError:
            closed.add(sock)
    return [sock for sock in socks if sock not in closed]


def health_within(hub: HubProcess, seconds: float) -> None:
    started = time.monotonic()
    status, body = hub.request("GET", "/health")
    assert status == 200, body
    assert time.monotonic() - started < seconds


def network_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one: connections from it
    are held to the per-client cap."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.mark.slow
@pytest.mark.parametrize(
    ("source", "cap", "slow_body"), [("127.0.0.2", 500, False), ("network", 100, False), ("127.0.0.2", 500, True)]
)
def test_health_answers_under_a_flood_of_half_open_connections(
    flooded_hub: HubProcess, source: str, cap: int, slow_body: bool
) -> None:
    """Over the total cap (500 here; loopback clients have no other) or a network client's cap
    (100), a new connection takes the place of the oldest that owes a request: the hub never runs
    out of files, and a client that sends a request is answered."""
    address = network_address() if source == "network" else source
    if address is None:
        pytest.skip("this machine has no network address")
    socks: list[socket.socket] = []
    try:
        for _ in range(FLOOD):
            socks.append(half_open(flooded_hub.port, address, slow_body=slow_body))
        health_within(flooded_hub, 2)
        assert len(still_open(socks)) <= cap + 5
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.slow
def test_a_half_sent_request_is_closed_after_the_header_timeout(flooded_hub: HubProcess) -> None:
    with half_open(flooded_hub.port, "127.0.0.1") as sock:
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed, with no answer
        assert HEADER_TIMEOUT * 0.8 < time.monotonic() - started < HEADER_TIMEOUT + 1.5


@pytest.mark.slow
def test_an_idle_keep_alive_connection_outlives_the_header_timeout(flooded_hub: HubProcess) -> None:
    """The header timeout runs while a request is being sent; between requests, the keep-alive
    timeout does."""
    connection = http.client.HTTPConnection("127.0.0.1", flooded_hub.port, timeout=5)
    try:
        for pause in (HEADER_TIMEOUT + 0.3, 0):
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            time.sleep(pause)
    finally:
        connection.close()


def test_the_connection_cap_fits_the_open_file_limit() -> None:
    assert connection_cap(configured=0, file_limit=1024) == 768
    assert connection_cap(configured=0, file_limit=65536) == 65536 - 6553
    assert connection_cap(configured=100, file_limit=1024) == 100
    assert connection_cap(configured=5000, file_limit=1024) == 768  # never more than the files allow


class FakeConnection:
    """What ``ConnectionTable`` needs of a connection: its address, and ``drop``."""

    def __init__(self, table: ConnectionTable, client_address: str) -> None:
        self.table = table
        self.client_address = client_address
        self.dropped = False

    def drop(self) -> None:
        self.dropped = True
        self.table.release(self)  # type: ignore[arg-type]


def test_a_connection_over_a_cap_replaces_the_oldest_that_owes_a_request() -> None:
    table = ConnectionTable(total=3, per_client=2)

    def connect(address: str, *, waiting: bool = True) -> FakeConnection | None:
        connection = FakeConnection(table, address)
        if not table.admit(connection):  # type: ignore[arg-type]
            return None
        if waiting:
            table.mark_waiting(connection)  # type: ignore[arg-type]
        return connection

    first, busy = connect("203.0.113.9"), connect("203.0.113.9", waiting=False)
    third = connect("203.0.113.9")  # over its client's cap: the oldest waiting one goes
    assert first is not None and first.dropped and busy is not None and not busy.dropped and third is not None
    assert connect("203.0.113.9", waiting=False) is not None and third.dropped
    assert connect("203.0.113.9") is None  # both of its connections busy: refused
    assert connect("127.0.0.1", waiting=False) is not None  # loopback: no per-client cap
    assert connect("127.0.0.1") is None  # the total (3) reached, nobody waiting
    assert table.count == 3
