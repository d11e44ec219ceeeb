"""Authentication for the whole hub, HTTP and WebSocket alike.

A request is authenticated by an API key (``Authorization: Bearer <key>`` or ``X-API-Key: <key>``;
WebSockets may also pass ``?api_key=<key>`` because browsers cannot set headers on them), by a
staff session (admin, API docs), or, unless ``ORCHESTRA_TRUST_LOOPBACK=false``, by coming from
loopback. The deployment model is an SSH tunnel to a private port, so loopback means "the owner";
a request that carries proxy headers came through a reverse proxy and is not loopback.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from orchestra_site.models import ApiKey
from orchestra_site.realtime.key_watch import run_while_key_active
from orchestra_site.security.hosts import host_allowed, is_loopback_host, origin_allowed
from orchestra_site.services import api_key_authenticate

# Any of these means a proxy (a reverse proxy, a CDN, a tunnel service) relayed the request for
# someone else: such a request is not the owner on loopback, even when it arrives from 127.0.0.1.
PROXY_HEADERS = (
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-server",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "forwarded",
    "forwarded-for",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "fly-client-ip",
    "via",
)


@dataclass(frozen=True)
class HubPrincipal:
    """Who made a request: an API key's name or ``loopback``."""

    name: str
    api_key: ApiKey | None = None
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False

    def __str__(self) -> str:
        return self.name


LOOPBACK = HubPrincipal(name="loopback")


def is_loopback_address(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def raw_key_from_headers(headers: dict[str, str]) -> str | None:
    """The key from ``Authorization: Bearer`` or ``X-API-Key``; headers keyed lower-case."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


def principal_for(
    *, headers: dict[str, str], client_address: str | None, query_key: str | None = None
) -> HubPrincipal | None:
    """The principal of a request, or None when it is not authenticated.

    A key that is present but wrong is refused even from loopback, so a misconfigured client
    finds out at once instead of working only through the tunnel.
    """
    raw_key = raw_key_from_headers(headers) or query_key
    if raw_key:
        api_key = api_key_authenticate(raw_key=raw_key)
        return HubPrincipal(name=api_key.name, api_key=api_key) if api_key else None
    if trusted_loopback(headers=headers, client_address=client_address):
        return LOOPBACK
    return None


def trusted_loopback(*, headers: dict[str, str], client_address: str | None) -> bool:
    """Loopback address, loopback ``Host`` (not a name rebound to 127.0.0.1) and no proxy headers."""
    if not settings.TRUST_LOOPBACK or not is_loopback_address(client_address):
        return False
    if not is_loopback_host(headers.get("host")):
        return False
    return not any(headers.get(name) for name in PROXY_HEADERS)


def _request_headers(request: Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[HubPrincipal, ApiKey] | None:
        raw_key = raw_key_from_headers(_request_headers(request))
        if not raw_key:
            return None
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            raise AuthenticationFailed("Invalid API key.")
        return HubPrincipal(name=api_key.name, api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="orchestra"'


class LoopbackAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[HubPrincipal, None] | None:
        headers = {**_request_headers(request), "host": request.get_host()}  # SERVER_NAME when no Host
        if trusted_loopback(headers=headers, client_address=request.META.get("REMOTE_ADDR")):
            return LOOPBACK, None
        return None


class WebSocketAuthMiddleware:
    """ASGI middleware: authenticate a WebSocket handshake and put the principal in the scope.

    Unauthenticated handshakes are refused before any consumer runs (close code 4401), and so are
    browser handshakes from an origin that is neither an allowed CORS origin nor the hub itself.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        from channels.db import database_sync_to_async

        headers = {k.decode("latin1").lower(): v.decode("latin1") for k, v in scope.get("headers", [])}
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        query_key = (query.get("api_key") or [None])[0]
        client = scope.get("client") or (None, None)
        principal = await database_sync_to_async(principal_for)(
            headers=headers, client_address=client[0], query_key=query_key
        )
        user = scope.get("user")
        if principal is None and user is not None and getattr(user, "is_staff", False):
            principal = HubPrincipal(name=user.get_username(), is_staff=True)
        refusal = handshake_refusal(headers=headers, principal=principal)
        if refusal is not None:
            await receive()  # the websocket.connect message
            await send({"type": "websocket.close", "code": refusal})
            return None
        scope = {**scope, "principal": principal}
        if principal is not None and principal.api_key is not None:
            return await run_while_key_active(self.app, scope, receive, send, key_id=principal.api_key.pk)
        return await self.app(scope, receive, send)


def handshake_refusal(*, headers: dict[str, str], principal: HubPrincipal | None) -> int | None:
    """The close code for a handshake the hub refuses: a foreign host or origin, or no credentials.

    Browsers always send ``Origin``; other clients (the VSCode extension, scripts) may not.
    """
    host = headers.get("host")
    if host is not None and not host_allowed(host):
        return 4400
    if principal is None:
        return 4401
    if not origin_allowed(origin=headers.get("origin"), host=host):
        return 4403
    return None
