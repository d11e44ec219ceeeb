"""Socket.IO on ``/orchestration``, spoken by hand over Engine.IO long-polling through the hub's ASGI
application (in this process, so it also runs in the PostgreSQL + Redis pass)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async
from django.utils import timezone

from orchestra_site.asgi import application
from orchestra_site.models import ApiKey
from orchestra_site.services import api_key_create
from orchestration import services
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

LOOPBACK = ("127.0.0.1", 50000)
ELSEWHERE = ("203.0.113.9", 50000)
PACKET_SEPARATOR = "\x1e"


async def http(
    method: str,
    query: str,
    body: str = "",
    *,
    client: tuple[str, int] = LOOPBACK,
    origin: str | None = None,
    host: bytes = b"testserver",
) -> tuple[int, dict[bytes, bytes], str]:
    headers = [(b"host", host), (b"content-length", str(len(body.encode())).encode())]
    headers += [(b"origin", origin.encode())] if origin else []
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": "/orchestration/",
        "raw_path": b"/orchestration/",
        "query_string": query.encode(),
        "headers": headers,
        "client": client,
        "server": ("127.0.0.1", 80),  # Host: testserver names port 80
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body.encode()})
    start = await communicator.receive_output(5)
    text = b""
    while True:
        chunk = await communicator.receive_output(5)
        text += chunk.get("body", b"")
        if not chunk.get("more_body"):
            return start["status"], dict(start.get("headers", [])), text.decode()


class PollingSocket:
    """An Engine.IO 4 session over long-polling, speaking Socket.IO packets in the default namespace."""

    def __init__(self, client: tuple[str, int] = LOOPBACK) -> None:
        self.client = client
        self.sid = ""
        self.received: list[str] = []

    async def open(self, auth: dict[str, str] | None = None) -> None:
        status, _, body = await http("GET", "EIO=4&transport=polling", client=self.client)
        assert status == 200 and body.startswith("0"), body
        self.sid = json.loads(body[1:])["sid"]
        await self.post("40" + (json.dumps(auth) if auth else ""))

    async def post(self, packet: str) -> None:
        status, _, body = await http("POST", self.query, packet, client=self.client)
        assert (status, body) == (200, "OK")

    async def emit(self, event: str, data: Any) -> None:
        await self.post("42" + json.dumps([event, data]))

    async def next_packet(self) -> str:
        while not self.received:
            status, _, body = await http("GET", self.query, client=self.client)
            assert status == 200
            self.received += [packet for packet in body.split(PACKET_SEPARATOR) if not packet.startswith("2")]
        return self.received.pop(0)

    async def next_event(self) -> tuple[str, Any]:
        packet = await self.next_packet()
        assert packet.startswith("42"), packet
        event, data = json.loads(packet[2:])
        return event, data

    async def close(self) -> None:
        await self.post("41")
        await self.post("1")

    @property
    def query(self) -> str:
        return f"EIO=4&transport=polling&sid={self.sid}"


async def test_socketio_and_raw_clients_share_the_path_and_get_the_same_frames() -> None:
    raw = HubCommunicator("/orchestration")
    assert (await raw.connect())[0]
    raw_hello = await raw.receive_event()
    socket = PollingSocket()
    await socket.open()
    assert (await socket.next_packet()).startswith('40{"sid":')
    assert await socket.next_event() == (raw_hello["event"], raw_hello["data"])
    await socket.emit("subscribe", {"workspaceId": "@acme/widgets"})
    await raw.send_event("subscribe", {"workspaceId": "@acme/widgets"})
    for _ in range(2):
        raw_frame = await raw.receive_event()
        assert await socket.next_event() == (raw_frame["event"], raw_frame["data"])

    await database_sync_to_async(services.workspace_set_desired)(path="@acme/widgets", desired=3)
    for expected in ("orchestration.global", "orchestration.workspace"):
        raw_frame = await raw.receive_event()
        assert raw_frame["event"] == expected
        assert await socket.next_event() == (expected, raw_frame["data"])
    assert raw_frame["data"]["workspace_id"] == "@acme/widgets"
    await socket.close()
    await raw.disconnect()


async def test_off_loopback_a_socketio_client_needs_a_key() -> None:
    """Engine.IO tells the application every peer is 127.0.0.1; the hub reads the real peer."""
    stranger = PollingSocket(client=ELSEWHERE)
    await stranger.open()
    assert await stranger.next_packet() == '44{"message":"Authentication required: send auth.token."}'

    _, key = await database_sync_to_async(api_key_create)(name="extension")
    member = PollingSocket(client=ELSEWHERE)
    await member.open({"token": key})
    assert (await member.next_packet()).startswith('40{"sid":')
    assert (await member.next_event())[0] == "orchestration.global"
    await member.close()


async def test_a_browser_page_from_another_origin_is_refused_like_on_the_raw_socket() -> None:
    status, _, body = await http("GET", "EIO=4&transport=polling", origin="https://evil.example")
    assert (status, body) == (400, '"https://evil.example is not an accepted origin."')
    status, headers, body = await http("GET", "EIO=4&transport=polling", origin="http://localhost:1420")
    assert status == 200 and body.startswith("0")
    assert headers[b"Access-Control-Allow-Origin"] == b"http://localhost:1420"


async def test_a_foreign_host_is_refused_before_socketio_sees_the_request() -> None:
    status, _, body = await http("GET", "EIO=4&transport=polling", host=b"evil.example:8000")
    assert status == 400
    assert "'evil.example:8000' is not allowed" in json.loads(body)["detail"]  # the hub's edge answers it


async def test_a_revoked_key_ends_its_socketio_connection_within_five_seconds() -> None:
    api_key, key = await database_sync_to_async(api_key_create)(name="revoked-extension")
    member = PollingSocket(client=ELSEWHERE)
    await member.open({"token": key})
    assert (await member.next_packet()).startswith('40{"sid":')
    assert (await member.next_event())[0] == "orchestration.global"
    await database_sync_to_async(ApiKey.objects.filter(pk=api_key.pk).update)(revoked_at=timezone.now())

    async def until_disconnected() -> None:
        while await member.next_packet() != "41":  # the server disconnects the namespace
            pass

    await asyncio.wait_for(until_disconnected(), timeout=5)
