from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from orchestra_site.security.auth import PROXY_HEADERS, trusted_loopback
from orchestra_site.services import api_key_create
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db


def concrete_paths(patterns: list, prefix: str = "") -> list[str]:
    """Every URL pattern of the hub, with sample values for its parameters."""
    paths: list[str] = []
    for pattern in patterns:
        # A router's routes are regexes: ^...$ around each piece, (?P<name>...) for a parameter.
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if isinstance(pattern, URLResolver):
            paths.extend(concrete_paths(pattern.url_patterns, route))
        elif isinstance(pattern, URLPattern):
            route = re.sub(r"<path:\w+>|\(\?P<\w+>\.\+\)", "%2Fsome%2Fworkspace", route)
            route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)  # the routers' database ids
            route = re.sub(r"<(str:)?\w+>", "x", route)
            route = re.sub(r"<\w+:\w+>", "1", route)  # int and the hub's id converters
            paths.append("/" + route)
    return paths


def api_paths() -> list[str]:
    """The API's paths: not the pages for people (admin, console, and ``/`` that leads there)."""
    pages = ("/admin/", "/console")
    return [p for p in concrete_paths(get_resolver().url_patterns) if not p.startswith(pages) and p != "/"]


def test_the_enumeration_finds_the_whole_api() -> None:
    paths = api_paths()
    assert "/health" in paths
    assert "/api/orchestration/global" in paths
    assert "/api/orchestration/workspace/%2Fsome%2Fworkspace" in paths
    assert {"/projects/1", "/projects/1/nodes/1", "/projects/1/graph"} <= set(paths)
    assert len(paths) >= 6


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_every_url_refuses_an_unauthenticated_request_when_loopback_trust_is_off(
    untrusted_loopback: None, method: str
) -> None:
    client = APIClient()
    for path in api_paths():
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 401, (method, path, response.status_code)
        assert response["Content-Type"].startswith("application/json")
        assert "detail" in response.json()


def test_admin_pages_send_strangers_to_the_login_page(untrusted_loopback) -> None:  # type: ignore[no-untyped-def]
    response = APIClient().get("/admin/orchestration/workspace/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_loopback_is_trusted_by_default() -> None:
    assert APIClient().get("/api/orchestration/global").status_code == 200


def test_a_request_through_a_reverse_proxy_is_not_loopback() -> None:
    for header in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED"):
        extra: dict[str, Any] = {header: "203.0.113.9"}
        response = APIClient().get("/api/orchestration/global", **extra)
        assert response.status_code == 401, header


def test_a_remote_request_needs_a_key() -> None:
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    assert client.get("/api/orchestration/global").status_code == 401


@pytest.mark.parametrize("style", ["bearer", "x-api-key"])
def test_an_api_key_is_accepted_in_either_header(untrusted_loopback: None, style: str) -> None:
    _, raw_key = api_key_create(name="desktop")
    headers: dict[str, Any] = (
        {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"} if style == "bearer" else {"HTTP_X_API_KEY": raw_key}
    )
    response = APIClient(REMOTE_ADDR="203.0.113.9").get("/api/orchestration/global", **headers)
    assert response.status_code == 200


def test_a_wrong_key_is_refused_even_from_loopback() -> None:
    response = APIClient().get("/api/orchestration/global", HTTP_X_API_KEY="ohk_wrong")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key.", "message": "Invalid API key."}


def test_a_revoked_key_is_refused(untrusted_loopback) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    api_key, raw_key = api_key_create(name="old")
    api_key.revoked_at = timezone.now()
    api_key.save()
    assert APIClient().get("/health", HTTP_X_API_KEY=raw_key).status_code == 401


def test_only_the_hash_of_a_key_is_stored() -> None:
    api_key, raw_key = api_key_create(name="ci")
    api_key.refresh_from_db()
    assert raw_key not in (api_key.key_hash, api_key.prefix)
    assert raw_key.startswith(api_key.prefix)


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_without_credentials_is_refused(untrusted_loopback) -> None:  # type: ignore[no-untyped-def]
    client = HubCommunicator("/orchestration", client=("203.0.113.9", 4000))
    connected, code = await client.connect()
    assert not connected
    assert code == 4401


@pytest.mark.django_db(transaction=True)
async def test_a_browser_websocket_passes_its_key_in_the_query(untrusted_loopback) -> None:  # type: ignore[no-untyped-def]
    from channels.db import database_sync_to_async

    _, raw_key = await database_sync_to_async(api_key_create)(name="browser")
    client = HubCommunicator(f"/orchestration?api_key={raw_key}", client=("203.0.113.9", 4000))
    connected, _ = await client.connect()
    assert connected
    await client.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("http://localhost:1420", True), ("tauri://localhost", True), ("https://evil.example", False), (None, True)],
)
async def test_websocket_origins_are_checked(origin: str | None, allowed: bool) -> None:
    headers = [(b"host", b"127.0.0.1:8000")] + ([(b"origin", origin.encode())] if origin else [])
    client = HubCommunicator("/orchestration", headers=headers)
    connected, code = await client.connect()
    assert connected is allowed
    if connected:
        await client.disconnect()
    else:
        assert code == 4403


LOOPBACK_HEADERS = {"host": "127.0.0.1:8000"}


def test_loopback_trust_needs_a_host_with_the_port_the_hub_listens_on() -> None:
    def trusted(headers: dict[str, str], port: int | str | None = 8000) -> bool:
        return trusted_loopback(headers=headers, client_address="127.0.0.1", server_port=port)

    assert trusted(LOOPBACK_HEADERS)
    assert trusted({"host": "localhost:8000"}, "8000")  # Django's SERVER_PORT is a string
    assert not trusted({})  # no Host: no hub named at all
    assert not trusted({"host": "127.0.0.1:9999"})  # another local program's page or proxy
    assert not trusted({"host": "127.0.0.1"})  # port 80
    assert trusted({"host": "127.0.0.1"}, 80)
    assert not trusted({"host": "127.0.0.1:"})
    assert not trusted(LOOPBACK_HEADERS, None)


def test_a_request_on_another_port_or_without_a_host_is_not_loopback() -> None:
    assert (
        APIClient().get("/api/orchestration/global", HTTP_HOST="localhost:9999", SERVER_PORT="8000").status_code == 401
    )
    assert (
        APIClient().get("/api/orchestration/global", HTTP_HOST="localhost:8000", SERVER_PORT="8000").status_code == 200
    )


@pytest.mark.parametrize(
    "header",
    [
        "X-Forwarded-For",
        "X-Real-IP",
        "Forwarded",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "X-Forwarded-Port",
        "X-Forwarded-Server",
        "X-Original-Forwarded-For",
        "X-Client-IP",
        "X-Cluster-Client-IP",
        "True-Client-IP",
        "CF-Connecting-IP",
        "Fastly-Client-IP",
        "X-Azure-ClientIP",
        "X-Azure-SocketIP",
        "X-Appengine-User-IP",
        "Fly-Client-IP",
        "X-Vercel-Forwarded-For",
        "X-Envoy-External-Address",
        "CloudFront-Viewer-Address",
        "Via",
    ],
)
def test_every_common_proxy_header_means_not_loopback(header: str) -> None:
    assert header.lower() in PROXY_HEADERS
    assert not trusted_loopback(
        headers={**LOOPBACK_HEADERS, header.lower(): ""}, client_address="127.0.0.1", server_port=8000
    )


def test_a_key_created_in_the_admin_is_shown_once_and_never_put_in_a_cookie() -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    admin = User.objects.create_superuser("root", password="x" * 12)
    client = Client()
    client.force_login(admin)
    created = client.post("/admin/orchestra_site/apikey/add/", {"name": "laptop"})
    assert created.status_code == 302, created.content
    raw_key = re.escape("The new key is ")
    assert all(not re.search(raw_key, morsel.value) for morsel in created.cookies.values())
    assert "messages" not in created.cookies
    page = client.get(created["Location"])
    shown = re.search(r"The new key is (\S+)", page.content.decode())
    assert shown is not None
    assert all(shown.group(1) not in morsel.value for morsel in page.cookies.values())
    assert client.get(created["Location"]).content.decode().count(shown.group(1)) == 0  # shown once


def test_a_proxy_header_spelt_with_underscores_means_not_loopback() -> None:
    assert not trusted_loopback(
        headers={**LOOPBACK_HEADERS, "x_forwarded_for": "1.2.3.4"}, client_address="127.0.0.1", server_port=8000
    )
