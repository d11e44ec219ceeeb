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
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from orchestra_site.models import ApiKey
from orchestra_site.realtime.key_watch import run_while_key_active
from orchestra_site.security.hosts import host_allowed, host_port, is_loopback_host, origin_allowed
from orchestra_site.services import api_key_authenticate

# Any of these means a proxy (a reverse proxy, a CDN, a load balancer, a tunnel service) relayed
# the request for someone else: such a request is not the owner on loopback, even when it arrives
# from 127.0.0.1. The names nginx, Apache (mod_proxy, mod_remoteip), Caddy, Traefik, HAProxy,
# Envoy, Squid and the common CDNs and clouds set; a header's presence counts, whatever its value.
PROXY_HEADERS = frozenset(
    {
        # the de-facto and standard ones (nginx, Apache, Caddy, Traefik, HAProxy, Envoy, AWS ELB)
        "forwarded",
        "forwarded-for",
        "via",
        "x-forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-proto",
        "x-forwarded-protocol",
        "x-forwarded-scheme",
        "x-forwarded-server",
        "x-forwarded-ssl",
        "x-forwarded-uri",
        "x-forwarded-method",
        "x-forwarded-by",
        "x-forwarded-client-cert",
        "x-original-forwarded-for",
        "x-original-host",
        "x-original-uri",
        "x-original-url",
        "x-real-ip",
        "x-client-ip",
        "x-cluster-client-ip",
        "x-proxyuser-ip",
        "x-remote-ip",
        "x-remote-addr",
        "x-host",
        "x-url-scheme",
        "front-end-https",
        "client-ip",
        "true-client-ip",  # Akamai, Cloudflare Enterprise
        "x-envoy-external-address",
        "x-envoy-original-path",
        "x-amzn-trace-id",  # AWS load balancers
        "cloudfront-viewer-address",  # AWS CloudFront
        "cf-connecting-ip",  # Cloudflare
        "cf-connecting-ipv6",
        "cf-ray",
        "cf-visitor",
        "cf-pseudo-ipv4",
        "fastly-client-ip",  # Fastly
        "fastly-ff",
        "akamai-origin-hop",  # Akamai
        "x-akamai-edgescape",
        "fly-client-ip",  # Fly.io
        "x-azure-clientip",  # Azure Front Door
        "x-azure-socketip",
        "x-azure-ref",
        "x-arr-clientip",  # Azure App Service / IIS ARR
        "x-appengine-user-ip",  # Google App Engine
        "x-cloud-trace-context",  # Google Cloud load balancers
        "x-vercel-forwarded-for",  # Vercel
        "x-nf-client-connection-ip",  # Netlify
        "x-bluecoat-via",
        "x-proxy-id",
        "ngrok-trace-id",  # ngrok
    }
)


INVALID_API_KEY = "Invalid API key."
BEARER_CHALLENGE = 'Bearer realm="orchestra"'  # the WWW-Authenticate of every 401


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


@lru_cache(maxsize=256)
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
    *,
    headers: dict[str, str],
    client_address: str | None,
    server_port: int | str | None,
    query_key: str | None = None,
) -> HubPrincipal | None:
    """The principal of a request, or None when it is not authenticated.

    A key that is present but wrong is refused even from loopback, so a misconfigured client
    finds out at once instead of working only through the tunnel.
    """
    raw_key = raw_key_from_headers(headers) or query_key
    if raw_key:
        api_key = api_key_authenticate(raw_key=raw_key)
        return HubPrincipal(name=api_key.name, api_key=api_key) if api_key else None
    if trusted_loopback(headers=headers, client_address=client_address, server_port=server_port):
        return LOOPBACK
    return None


def trusted_loopback(*, headers: dict[str, str], client_address: str | None, server_port: int | str | None) -> bool:
    """Loopback address, a ``Host`` that is a loopback name (not a name rebound to 127.0.0.1) with
    the port this hub listens on, and no proxy header.

    ``Host`` is required: without it a client names no hub at all. Its port must be the one the
    connection arrived on (no port means 80), so a page served by another local program, or a
    local proxy on another port, does not pass for the owner. ``server_port`` is that listening
    port (ASGI ``scope["server"]``, Django's ``SERVER_PORT``).
    """
    if not settings.TRUST_LOOPBACK or not is_loopback_address(client_address):
        return False
    host = headers.get("host")
    if not is_loopback_host(host) or host_port(host or "") != _as_port(server_port):
        return False
    # A proxy may pass a header spelt with underscores (X_Forwarded_For), which some frameworks
    # read as the dashed one: it counts the same.
    return not any(name.replace("_", "-") in PROXY_HEADERS for name in headers)


def _as_port(value: int | str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def request_trusted_loopback(request: HttpRequest) -> bool:
    """``trusted_loopback`` for a Django request: the headers it carried (no ``SERVER_NAME``
    stand-in for a missing ``Host``) and the port it arrived on."""
    return trusted_loopback(
        headers={name.lower(): value for name, value in request.headers.items()},
        client_address=request.META.get("REMOTE_ADDR"),
        server_port=request.META.get("SERVER_PORT"),
    )


def _request_headers(request: Request) -> dict[str, str]:
    return {name.lower(): value for name, value in request.headers.items()}


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[HubPrincipal, ApiKey] | None:
        raw_key = raw_key_from_headers(_request_headers(request))
        if not raw_key:
            return None
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            raise AuthenticationFailed(INVALID_API_KEY)
        return HubPrincipal(name=api_key.name, api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE


class LoopbackAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[HubPrincipal, None] | None:
        if request_trusted_loopback(request):
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
        server = scope.get("server") or (None, None)
        principal = await database_sync_to_async(principal_for)(
            headers=headers, client_address=client[0], server_port=server[1], query_key=query_key
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
