"""The session and user of a WebSocket's handshake, without a wrapper around every frame it sends.

Channels' ``SessionMiddleware`` wraps ``send`` so that an HTTP response can save the session and
set its cookie; on a WebSocket nothing is ever saved, yet the wrapper still inspects the session
on each frame (two lazy-object lookups per socket per event, in a fan-out to 1000 sockets).
``SocketSessionMiddleware`` resolves the session the same way and hands the inner application the
server's own ``send``.
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware


class SocketSessionMiddleware(SessionMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def socket_auth_stack(inner: Any) -> Any:
    """Channels' ``AuthMiddlewareStack`` (cookies, session, ``scope["user"]``) for WebSockets."""
    return CookieMiddleware(SocketSessionMiddleware(AuthMiddleware(inner)))
