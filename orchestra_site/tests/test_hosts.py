"""No web page can drive the hub: foreign hosts, foreign origins, proxies, revoked keys."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIClient

from orchestra_site.models import ApiKey
from orchestra_site.services import api_key_create
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db

DESIRED_URL = "/api/orchestration/workspace/%2Fsrv%2Frepo/desired"


def default_allowed_hosts(**env: str) -> list[str]:
    """ALLOWED_HOSTS as a freshly started hub computes it from the environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
    code = "import django; django.setup(); from django.conf import settings; print(','.join(settings.ALLOWED_HOSTS))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "orchestra_site.settings", **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=django_settings.BASE_DIR,
    )
    return done.stdout.strip().split(",")


def test_by_default_only_loopback_names_and_the_listening_name_are_served() -> None:
    assert default_allowed_hosts() == ["localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts(ORCHESTRA_HOST="devbox.lan") == ["localhost", "127.0.0.1", "[::1]", "devbox.lan"]
    assert default_allowed_hosts(ORCHESTRA_HOST="0.0.0.0") == ["localhost", "127.0.0.1", "[::1]"]


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "localhost"])
def test_loopback_names_are_served_and_trusted(host: str) -> None:
    port = host.rpartition(":")[2] if host.endswith(":8000") else "80"
    response = APIClient().put(DESIRED_URL, {"desired": 2}, format="json", HTTP_HOST=host, SERVER_PORT=port)
    assert response.status_code == 200, response.content


def test_a_rebound_name_gets_400_before_anything_runs() -> None:
    response = APIClient().put(DESIRED_URL, {"desired": 2}, format="json", HTTP_HOST="evil.example:8000")
    assert response.status_code == 400
    assert "evil.example" in response.json()["detail"]
    assert APIClient().get("/api/orchestration/workspaces").json() == []


def test_loopback_trust_needs_a_loopback_host_even_when_every_host_is_allowed(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = ["*"]
    response = APIClient().put(DESIRED_URL, {"desired": 2}, format="json", HTTP_HOST="evil.example:8000")
    assert response.status_code == 401
    _, raw_key = api_key_create(name="cli")
    keyed = APIClient().put(
        DESIRED_URL, {"desired": 2}, format="json", HTTP_HOST="devbox.lan:8000", HTTP_AUTHORIZATION=f"Bearer {raw_key}"
    )
    assert keyed.status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost:9999", "file://"])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_foreign_page_cannot_change_anything_with_or_without_a_key(origin: str, method: str) -> None:
    _, raw_key = api_key_create(name=f"k-{origin}-{method}")
    for extra in ({}, {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}):
        response = getattr(APIClient(), method)(
            "/projects",
            {"name": "x"},
            format="json",
            HTTP_HOST="localhost:8000",
            SERVER_PORT="8000",
            HTTP_ORIGIN=origin,
            **extra,
        )
        assert response.status_code == 403, (method, origin, extra)
        assert "Origin" in response.json()["detail"]
    from projects.models import Project

    assert not Project.objects.exists()


@pytest.mark.parametrize("origin", ["http://localhost:1420", "tauri://localhost", "http://localhost:8000"])
def test_the_desktop_app_and_the_hub_itself_may_write(origin: str) -> None:
    response = APIClient().put(
        DESIRED_URL, {"desired": 1}, format="json", HTTP_HOST="localhost:8000", SERVER_PORT="8000", HTTP_ORIGIN=origin
    )
    assert response.status_code == 200


def test_reads_from_a_foreign_origin_are_left_to_cors() -> None:
    response = APIClient().get(
        "/api/orchestration/global", HTTP_HOST="localhost:8000", SERVER_PORT="8000", HTTP_ORIGIN="https://evil.example"
    )
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize(
    "header", ["HTTP_TRUE_CLIENT_IP", "HTTP_CF_CONNECTING_IP", "HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_VIA"]
)
def test_a_proxied_request_is_not_loopback(header: str) -> None:
    extra: dict[str, Any] = {header: "198.51.100.7"}
    response = APIClient().get("/api/orchestration/global", **extra)
    assert response.status_code == 401


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_to_a_foreign_host_is_refused() -> None:
    client = HubCommunicator("/orchestration", headers=[(b"host", b"evil.example:8000")])
    connected, code = await client.connect()
    assert (connected, code) == (False, 4400)


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_with_a_rebound_name_is_not_trusted(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_HOSTS = ["*"]
    headers = [(b"host", b"evil.example:8000"), (b"origin", b"http://evil.example:8000")]
    connected, code = await HubCommunicator("/orchestration", headers=headers).connect()
    assert (connected, code) == (False, 4401)


@pytest.mark.django_db(transaction=True)
async def test_a_revoked_key_closes_its_websockets_within_five_seconds(untrusted_loopback) -> None:  # type: ignore[no-untyped-def]
    api_key, raw_key = await database_sync_to_async(api_key_create)(name="extension")
    _, other_key = await database_sync_to_async(api_key_create)(name="other")
    revoked = HubCommunicator("/orchestration", headers=[(b"authorization", f"Bearer {raw_key}".encode())])
    kept = HubCommunicator("/orchestration", headers=[(b"authorization", f"Bearer {other_key}".encode())])
    for client in (revoked, kept):
        assert (await client.connect())[0]
        await client.receive_event()  # the global snapshot
    await database_sync_to_async(ApiKey.objects.filter(pk=api_key.pk).update)(revoked_at=timezone.now())
    started = asyncio.get_running_loop().time()
    message = await revoked.receive_output(timeout=5)
    assert message == {"type": "websocket.close", "code": 4401, "reason": "API key revoked"}
    assert asyncio.get_running_loop().time() - started < 5
    assert await kept.receive_nothing(timeout=0.5)
    await kept.disconnect()
