"""What a real ``serve`` refuses from a request's headers, before it reads the body, and how it
bounds a body it does read: raw sockets, so the test controls what is sent and when."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestra_site.security.edge import ANONYMOUS_BODY_LIMIT
from tests.hub_processes import HubProcess, hub_env, manage, running_hub

pytestmark = pytest.mark.slow
LIMIT = 1024 * 1024  # the hub's ORCHESTRA_MAX_REQUEST_BODY here


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    data_dir = tmp_path_factory.mktemp("edge")
    temp_dir = data_dir / "tmp"
    temp_dir.mkdir()
    env = hub_env(data_dir, ORCHESTRA_MAX_REQUEST_BODY=str(LIMIT), TMPDIR=str(temp_dir))
    with running_hub(env) as process:
        yield process


def connect(hub: HubProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=3)
    return sock


def response_head(sock: socket.socket) -> bytes:
    """The status line and headers of the answer (a refusal from the headers comes at once)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def request_head(hub: HubProcess, method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    if not any(name.lower() == "host" for name in headers):
        lines.insert(1, f"Host: 127.0.0.1:{hub.port}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def files_under(pid: int, folder: Path) -> list[str]:
    """The files ``pid`` holds open under ``folder`` (a spooled body rolled over to disk is one,
    even unlinked)."""
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            held.append(target)
    return held


def test_a_foreign_host_is_refused_before_its_body(hub: HubProcess) -> None:
    with connect(hub) as sock:
        sock.sendall(request_head(hub, "POST", "/projects", Host="evil.example", Content_Length=str(300 * 1024 * 1024)))
        head = response_head(sock)  # not one byte of the 300 MB sent
    assert status_of(head) == 400, head
    assert b"connection: close" in head.lower()


def test_a_foreign_page_write_is_refused_before_its_body(hub: HubProcess) -> None:
    with connect(hub) as sock:
        sock.sendall(request_head(hub, "POST", "/projects", Origin="https://evil.example", Content_Length="100000"))
        assert status_of(response_head(sock)) == 403


def test_a_chunked_body_without_credentials_is_refused_before_it_is_read(hub: HubProcess) -> None:
    # A proxy header: not the owner on loopback, and no key.
    with connect(hub) as sock:
        sock.sendall(request_head(hub, "POST", "/projects", Transfer_Encoding="chunked", X_Forwarded_For="203.0.113.9"))
        head = response_head(sock)
    assert status_of(head) == 401, head
    assert b'www-authenticate: bearer realm="orchestra"' in head.lower()


def test_a_wrong_key_is_refused_before_the_body(hub: HubProcess) -> None:
    with connect(hub) as sock:
        sock.sendall(request_head(hub, "PUT", "/projects/1", Authorization="Bearer nope", Content_Length="5000000"))
        assert status_of(response_head(sock)) == 401


def test_a_declared_length_over_the_limit_is_refused_from_the_headers(hub: HubProcess) -> None:
    with connect(hub) as sock:
        sock.sendall(request_head(hub, "POST", "/projects", Content_Length=str(LIMIT + 1)))
        head = response_head(sock)
    assert status_of(head) == 413, head


def test_a_chunked_body_is_refused_once_over_the_limit_and_never_reaches_the_disk(hub: HubProcess) -> None:
    temp_dir = Path(hub.env["TMPDIR"])
    chunk = b"x" * 65536
    with connect(hub) as sock:
        sock.sendall(
            request_head(hub, "POST", "/projects", Transfer_Encoding="chunked", Content_Type="application/json")
        )
        sent = 0
        head = b""
        sock.settimeout(0.01)
        while sent < 4 * LIMIT and not head:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            assert files_under(hub.process.pid, temp_dir) == []
            try:
                head = sock.recv(65536)
            except TimeoutError:
                pass
    assert status_of(head) == 413, head
    assert sent <= LIMIT + 8 * len(chunk)  # answered as the limit passed, not at the end of the body
    # Nothing of the body was spooled; the hub's wake-up socket folder (orchestra_site.wakeups) may be there.
    assert [p for p in temp_dir.iterdir() if not p.name.startswith("orchestra-wakeups-")] == []


def test_a_login_form_needs_no_credentials_but_is_small(hub: HubProcess) -> None:
    """The login pages take a body from strangers, up to ``ANONYMOUS_BODY_LIMIT``."""
    with connect(hub) as sock:
        sock.sendall(
            request_head(hub, "POST", "/console/login", X_Forwarded_For="203.0.113.9", Content_Length="10")
            + b"username=x"
        )
        assert status_of(response_head(sock)) != 413
    with connect(hub) as sock:
        too_big = str(ANONYMOUS_BODY_LIMIT + 1)
        sock.sendall(request_head(hub, "POST", "/console/login", X_Forwarded_For="203.0.113.9", Content_Length=too_big))
        assert status_of(response_head(sock)) == 413


def test_an_ordinary_write_still_works(hub: HubProcess) -> None:
    status, body = hub.request("POST", "/projects", {"name": "edge"})
    assert status == 201, body
    started = time.monotonic()
    status, _ = hub.request("GET", "/health")
    assert status == 200 and time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("host", "status"),
    [("127.0.0.1:{port}", 200), ("localhost:{port}", 200), ("127.0.0.1:1", 401), ("127.0.0.1", 401), (None, 401)],
)
def test_loopback_trust_needs_a_host_naming_the_hubs_port(hub: HubProcess, host: str | None, status: int) -> None:
    lines = ["GET /api/orchestration/global HTTP/1.1", "Connection: close"]
    if host is not None:
        lines.append(f"Host: {host.format(port=hub.port)}")
    with connect(hub) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        assert status_of(response_head(sock)) == status


def test_a_key_lets_a_body_through_from_anywhere(hub: HubProcess) -> None:
    raw_key = manage("create_api_key", "edge", env=hub.env).stdout.strip()
    body = b'{"name": "keyed"}'
    with connect(hub) as sock:
        sock.sendall(
            request_head(
                hub,
                "POST",
                "/projects",
                Authorization=f"Bearer {raw_key}",
                X_Forwarded_For="203.0.113.9",
                Content_Type="application/json",
                Content_Length=str(len(body)),
            )
            + body
        )
        assert status_of(response_head(sock)) == 201
