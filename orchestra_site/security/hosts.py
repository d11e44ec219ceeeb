"""Which ``Host`` and ``Origin`` the hub answers, so no web page can drive it.

The hub trusts loopback, and a page on any site can make a browser reach ``127.0.0.1:8000``:
through DNS rebinding (``evil.example`` resolving to 127.0.0.1, so the page is "same origin"
with the hub) or with plain cross-site requests. So:

- only the hosts of ``ALLOWED_HOSTS`` are answered (loopback names by default); a rebound name
  arrives as ``Host: evil.example`` and gets 400;
- loopback trust needs a loopback ``Host`` as well as a loopback address;
- a state-changing request that carries an ``Origin`` must come from an allowed CORS origin or
  the hub's own origin, whoever sends it and whatever key it carries: a key in a page's
  JavaScript does not make the page the owner. WebSocket handshakes get the same check.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import split_domain_port, validate_host

from orchestra_site.api.exceptions import error_body

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Every request's Host is parsed several times (at the edge, in the middleware, for loopback
# trust) and nearly always has the same few values; clients choose them, so the cache is bounded.
_split_host = lru_cache(maxsize=256)(split_domain_port)


def host_name(host: str) -> str:
    """``127.0.0.1:8000`` -> ``127.0.0.1``; ``[::1]:8000`` -> ``[::1]``; lower case."""
    domain, _port = _split_host(host.lower())
    if host.startswith("[") and domain and not domain.startswith("["):
        domain = f"[{domain}]"
    return domain


def host_port(host: str) -> int | None:
    """The port of a ``Host`` value: ``localhost:8000`` -> 8000, ``localhost`` -> 80 (the hub
    speaks plain HTTP), None when it is not a port."""
    _domain, port = _split_host(host)
    if not port:
        return 80 if host and not host.endswith(":") else None
    return int(port) if port.isdigit() else None


def is_loopback_host(host: str | None) -> bool:
    return bool(host) and host_name(host or "") in settings.LOOPBACK_HOSTS


def host_allowed(host: str | None) -> bool:
    domain, _port = _split_host((host or "").lower())
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def origin_allowed(*, origin: str | None, host: str | None) -> bool:
    """An allowed CORS origin or the hub itself; a request without ``Origin`` is not a page's."""
    if origin is None:
        return True
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == (host or "").lower()


def host_refusal(host: str) -> str:
    return f"Host {host[:100]!r} is not allowed: set ORCHESTRA_ALLOWED_HOSTS to serve it."


def origin_refusal(origin: str) -> str:
    return f"Origin {origin[:100]!r} may not change this hub."


class HostAndOriginMiddleware:
    """First in the stack: refuse a foreign ``Host`` (400) and a foreign page's write (403)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            host = request.get_host()
        except DisallowedHost:
            # Without a Host header Django falls back to SERVER_NAME: name whichever it refused.
            raw = request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", "")
            return JsonResponse(error_body(host_refusal(raw)), status=400)
        origin = request.headers.get("origin")
        if origin is not None and request.method not in SAFE_METHODS and not origin_allowed(origin=origin, host=host):
            return JsonResponse(error_body(origin_refusal(origin)), status=403)
        return self.get_response(request)
