"""Socket.IO v4 (Engine.IO protocol 4) on ``/orchestration``, beside the raw JSON WebSocket.

The VSCode extension connects with socket.io-client: ``io(base, {path: "/orchestration",
auth: {token}})``. Its requests carry ``?EIO=4``, which is how ``with_socketio`` tells them from
the raw WebSocket clients on the same path. Both transports (WebSocket and long-polling) work.

Each connection is a ``FrameSubscriber`` in this process's ``EventHub``, like a raw WebSocket, and
runs the same ``OrchestrationSession``: the same events and payloads, the same version rule, the
frames of every process. A frame ``{"event": E, "data": D}`` becomes the Socket.IO event ``E``
with the one argument ``D``; it is turned into a Socket.IO packet once per process, not once per
client.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

import socketio
from channels.db import database_sync_to_async
from engineio import packet as engineio_packet  # type: ignore[import-untyped]
from socketio import packet as socketio_packet
from socketio.exceptions import ConnectionRefusedError as SocketIOConnectionRefused

from orchestra_site.api.exceptions import error_body
from orchestra_site.realtime import key_watch
from orchestra_site.realtime.consumers import FrameSubscriber
from orchestra_site.security.auth import principal_for
from orchestra_site.security.hosts import host_allowed, origin_allowed
from orchestration.session import OrchestrationSession
from orchestration.socketio_direct import DirectEngineIOServer

SOCKETIO_PATH = "/orchestration"
NAMESPACE = "/"

Scope = dict[str, Any]


def scope_headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope.get("headers", [])}


def scope_query(scope: Scope) -> dict[str, list[str]]:
    return parse_qs(scope.get("query_string", b"").decode("latin1"))


def origin_accepted(origin: str, environ: dict[str, Any]) -> bool:
    """The raw socket's rule: an allowed CORS origin or the hub itself (browsers only send Origin)."""
    headers = scope_headers(environ["asgi.scope"])
    return origin_allowed(origin=headers.get("origin"), host=headers.get("host"))


class HubSocketIOServer(socketio.AsyncServer):
    """python-socketio's server on ``DirectEngineIOServer``: a message goes straight to an idle
    client's WebSocket instead of waking a writer task per client (``socketio_direct``).
    ``_engineio_server_class`` is how python-socketio 5.18 picks its Engine.IO server."""

    def _engineio_server_class(self) -> type[DirectEngineIOServer]:
        return DirectEngineIOServer


server = HubSocketIOServer(
    async_mode="asgi",
    cors_allowed_origins=origin_accepted,
    # Events of one connection are handled one after the other, in the order the client sent them.
    async_handlers=False,
    logger=False,
    engineio_logger=False,
)
socketio_app = socketio.ASGIApp(server, socketio_path=None)


@lru_cache(maxsize=512)
def event_packet(frame_text: str) -> engineio_packet.Packet:
    """The Engine.IO MESSAGE carrying the Socket.IO EVENT of a ``{"event", "data"}`` frame (default
    namespace). Built and encoded once per frame, not once per client: a ``Packet`` keeps its
    encoding, and every client's send reuses it."""
    frame = json.loads(frame_text)
    event = socketio_packet.Packet(socketio_packet.EVENT, data=[frame["event"], frame["data"]])
    message = engineio_packet.Packet(engineio_packet.MESSAGE, data=str(event.encode()))
    message.encode()
    return message


class SocketIOSubscriber(FrameSubscriber):
    """A Socket.IO connection in the hub's groups; frames are written to its Engine.IO session."""

    session: OrchestrationSession

    def __init__(self, eio_sid: str) -> None:
        self.eio_sid = eio_sid
        self.forget_key: Callable[[], None] = lambda: None

    async def send_text(self, text: str) -> None:
        await server.eio.send_packet(self.eio_sid, event_packet(text))

    async def resync(self) -> None:
        await self.session.resync()


subscribers: dict[str, SocketIOSubscriber] = {}
_background_tasks: set[asyncio.Task[None]] = set()


def api_key_of(auth: object, scope: Scope) -> str | None:
    """``auth.token`` of the handshake (what socket.io-client sends), else ``?api_key=``."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if isinstance(token, str) and token.strip():
        return token.strip()
    keys = scope_query(scope).get("api_key")
    return keys[0] if keys else None


@server.event
async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
    scope: Scope = environ["asgi.scope"]
    headers = scope_headers(scope)
    key = api_key_of(auth, scope)
    client = scope.get("client") or (None, None)
    listening = scope.get("server") or (None, None)
    principal = await database_sync_to_async(principal_for)(
        headers=headers, client_address=client[0], server_port=listening[1], query_key=key
    )
    if principal is None:
        given = key or headers.get("authorization") or headers.get("x-api-key")
        raise SocketIOConnectionRefused("Invalid API key." if given else "Authentication required: send auth.token.")
    subscriber = SocketIOSubscriber(eio_sid=server.manager.eio_sid_from_sid(sid, NAMESPACE))
    subscriber.start_subscriber()
    subscriber.session = OrchestrationSession(subscriber)
    subscribers[sid] = subscriber
    if principal.api_key is not None:

        def disconnect() -> None:
            """A revoked key ends the connection within seconds, as it does a raw socket's."""
            closing = asyncio.ensure_future(server.disconnect(sid))
            _background_tasks.add(closing)
            closing.add_done_callback(_background_tasks.discard)

        subscriber.forget_key = key_watch.on_revocation(principal.api_key.pk, disconnect)
    # The server answers the connect when this handler returns; the snapshot follows that answer.
    # Events the client sends meanwhile wait for it (the session's lock).
    task = asyncio.get_running_loop().create_task(subscriber.session.open())
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)


@server.on("*")
async def any_event(event: str, sid: str, *args: Any) -> None:
    subscriber = subscribers.get(sid)
    if subscriber is not None:
        await subscriber.session.handle(event, args[0] if args else None)


@server.event
async def disconnect(sid: str, reason: str | None = None) -> None:
    subscriber = subscribers.pop(sid, None)
    if subscriber is not None:
        subscriber.forget_key()
        await subscriber.session.close()


async def transports_close(timeout: float = 1.0) -> None:
    """Let go of every Socket.IO client of this process, as a stopping hub does: each one's
    transport ends (no Socket.IO or Engine.IO disconnect packet), so that every client reconnects
    by itself when the hub is back, and no long-poll holds the stop up (``socketio_stop``)."""
    await server.eio.stop(timeout)


def is_socketio_request(scope: Scope) -> bool:
    """``/orchestration`` or ``/orchestration/`` with an ``EIO`` query parameter."""
    if scope["type"] not in ("http", "websocket") or scope.get("path", "").rstrip("/") != SOCKETIO_PATH:
        return False
    return "EIO" in scope_query(scope)


async def refuse_foreign_host(scope: Scope, receive: Any, send: Any) -> None:
    """A name rebound to 127.0.0.1 gets what the rest of the hub answers it: 400, or close 4400."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 4400})
        return
    body = json.dumps(error_body("Host is not allowed: set ORCHESTRA_ALLOWED_HOSTS to serve it.")).encode()
    await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def refuse_jsonp(send: Any) -> None:
    """Engine.IO's JSONP polling (``?j=``) answers with a script any page may load with a
    ``<script>`` tag, which no same-origin rule covers; the hub's clients never use it."""
    body = json.dumps(error_body("JSONP polling (the j query parameter) is not served.")).encode()
    await send({"type": "http.response.start", "status": 400, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def with_socketio(app: Any) -> Any:
    """Serve Socket.IO requests in front of ``app`` (the Channels router), which gets the rest."""

    async def application(scope: Scope, receive: Any, send: Any) -> None:
        if not is_socketio_request(scope):
            await app(scope, receive, send)
        elif not host_allowed(scope_headers(scope).get("host")):
            await refuse_foreign_host(scope, receive, send)
        elif scope["type"] == "http" and "j" in parse_qs(scope.get("query_string", b"").decode("latin1"), True):
            await refuse_jsonp(send)
        else:
            await socketio_app(scope, receive, send)

    return application
