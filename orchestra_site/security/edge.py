"""The hub's front door: what is refused from a request's headers, before its body is read.

Django reads a request's whole body before any middleware runs (into a temporary file once it
passes ``FILE_UPLOAD_MAX_MEMORY_SIZE``), so a foreign ``Host``, a foreign page's write or a
stranger's upload used to cost the hub the whole body, on disk, before the 400, 403 or 401. This
ASGI middleware sits in front of everything and answers those from the headers, with the same
rules and the same answers as the checks behind it (``hosts``, ``auth``: one rule each, called
from both places):

- a ``Host`` that is not allowed: 400; a write carrying a foreign ``Origin``: 403;
- a body without credentials (no valid key, no loopback trust, no logged-in session) sent to an
  API view that needs them: 401, or to anything else (the login forms): at most
  ``ANONYMOUS_BODY_LIMIT`` bytes;
- a ``Content-Length`` over ``ORCHESTRA_MAX_REQUEST_BODY``: 413; a chunked body is counted as it
  streams and refused (413) as soon as it passes the limit.

Bodies under the limit stay in memory (``FILE_UPLOAD_MAX_MEMORY_SIZE`` equals the limit), so
nothing is ever written to disk for a request. Every refusal closes the connection: the part of
the body the client still sends is never read.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.urls import Resolver404, resolve
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from orchestra_site.api.exceptions import error_body
from orchestra_site.models import ApiKey
from orchestra_site.security.auth import BEARER_CHALLENGE, INVALID_API_KEY, raw_key_from_headers, trusted_loopback
from orchestra_site.security.hosts import SAFE_METHODS, host_allowed, host_refusal, origin_allowed, origin_refusal

Scope = dict[str, Any]
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# What a request without credentials may send where no credentials are needed: a login form.
ANONYMOUS_BODY_LIMIT = 64 * 1024
NOT_AUTHENTICATED = str(NotAuthenticated.default_detail)  # what DRF answers behind
CHALLENGE = ((b"www-authenticate", BEARER_CHALLENGE.encode()),)


class Refusal(Exception):
    def __init__(self, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


async def send_refusal(send: Send, refusal: Refusal) -> None:
    body = json.dumps(error_body(refusal.detail)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The rest of the body is never read: the connection cannot carry another request.
        (b"connection", b"close"),
        *refusal.headers,
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def scope_headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope.get("headers", [])}


def declared_length(headers: Mapping[str, str]) -> int | None:
    """``Content-Length`` as a number; None when absent (chunked or no body)."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit():
        raise Refusal(400, "Content-Length must be a number of bytes.")
    return int(raw)


def carries_body(headers: Mapping[str, str]) -> bool:
    return "transfer-encoding" in headers or (declared_length(headers) or 0) > 0


def view_needs_credentials(path: str) -> bool:
    """Whether ``path`` is an API view that refuses anonymous requests (so a 401 from the headers
    is what the view would answer after reading the body)."""
    try:
        match = resolve(path)
    except Resolver404:
        return False
    view_class = getattr(match.func, "cls", None)
    if not isinstance(view_class, type) or not issubclass(view_class, APIView):
        return False
    permissions = view_class.permission_classes
    return not all(isinstance(p, type) and issubclass(p, AllowAny) for p in permissions)


def stored_credentials_valid(*, raw_key: str | None, session_key: str | None) -> bool | None:
    """True for a valid key or a logged-in session, False for neither, None for a key that is
    present and wrong: the rules of ``ApiKeyAuthentication`` and Django's session login, which
    run again behind (and keep their bookkeeping, such as a key's ``last_used_at``)."""
    if raw_key:
        return True if ApiKey.objects.for_raw_key(raw_key) is not None else None
    if not session_key:
        return False
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(request)
    return bool(user.is_authenticated and user.is_active)


async def request_credentials(scope: Scope, headers: dict[str, str]) -> bool | None:
    """Whether the request is authenticated, as ``stored_credentials_valid`` answers; the owner on
    loopback is decided here, without a thread or a query (the common case)."""
    raw_key = raw_key_from_headers(headers)
    session_key = parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if not raw_key:
        client = scope.get("client") or (None, None)
        server = scope.get("server") or (None, None)
        if trusted_loopback(headers=headers, client_address=client[0], server_port=server[1]):
            return True
        if not session_key:
            return False
    # Not on the shared thread of sockets' queries: a refusal must not wait behind them.
    check = database_sync_to_async(stored_credentials_valid, thread_sensitive=False)
    return await check(raw_key=raw_key, session_key=session_key)


async def body_limit(scope: Scope, headers: dict[str, str], *, own_credentials: bool) -> int:
    """The most body this request may send, or a ``Refusal`` from its headers alone."""
    host = headers.get("host")
    if host is not None and not host_allowed(host):
        raise Refusal(400, host_refusal(host))
    origin = headers.get("origin")
    if origin is not None and scope.get("method") not in SAFE_METHODS and not origin_allowed(origin=origin, host=host):
        raise Refusal(403, origin_refusal(origin))
    limit: int = settings.MAX_REQUEST_BODY
    if not own_credentials and carries_body(headers):
        credentials = await request_credentials(scope, headers)
        if credentials is None:
            raise Refusal(401, INVALID_API_KEY, CHALLENGE)
        if not credentials:
            if view_needs_credentials(scope.get("path", "")):
                raise Refusal(401, NOT_AUTHENTICATED, CHALLENGE)
            limit = min(limit, ANONYMOUS_BODY_LIMIT)
    length = declared_length(headers)
    if length is not None and length > limit:
        raise Refusal(413, f"Request body too large: at most {limit} bytes.")
    return limit


class EdgeGuard:
    """ASGI middleware in front of the whole hub (HTTP only; WebSocket handshakes carry no body
    and are checked by ``auth.WebSocketAuthMiddleware``).

    ``carries_own_credentials`` names requests whose credentials travel in the body (Socket.IO's
    long-polling: ``auth.token`` is in its CONNECT packet); they get the Host, Origin and size
    checks only.
    """

    def __init__(self, app: ASGIApp, *, carries_own_credentials: Callable[[Scope], bool] = lambda scope: False):
        self.app = app
        self.carries_own_credentials = carries_own_credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope_headers(scope)
        try:
            limit = await body_limit(scope, headers, own_credentials=self.carries_own_credentials(scope))
        except Refusal as refusal:
            await send_refusal(send, refusal)
            return
        stream = BoundedBody(receive, send, limit=limit)
        await self.app(scope, stream.receive, stream.send)


class BoundedBody:
    """The request's body, counted as it streams: past ``limit`` the client gets 413 and the
    application a disconnect (Django then drops the request without answering)."""

    def __init__(self, receive: Receive, send: Send, *, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.refused = False
        self.response_started = False

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.refused = True
                if not self.response_started:
                    self.response_started = True
                    await send_refusal(self._send, Refusal(413, f"Request body too large: at most {self.limit} bytes."))
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 is the answer
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)
