"""ASGI entry point: HTTP through Django, WebSockets through Channels, both authenticated, and
Socket.IO on ``/orchestration`` in front of them (its requests carry ``?EIO=``). In front of all
of it, ``EdgeGuard`` refuses from the headers what must not cost the hub a body."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestra_site.settings")
django.setup(set_prefix=False)

# HTTP: on SQLite, Django's request handling with its synchronous part in one thread hop.
from orchestra_site.asgi_handler import http_application  # noqa: E402

django_asgi_app = http_application()

# Consumers import models, so they are imported only once Django is set up.
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from orchestra_site.realtime.sessions import socket_auth_stack  # noqa: E402
from orchestra_site.routing import websocket_urlpatterns  # noqa: E402
from orchestra_site.security.auth import WebSocketAuthMiddleware  # noqa: E402
from orchestra_site.security.edge import EdgeGuard  # noqa: E402
from orchestration.socketio_server import is_socketio_request, with_socketio  # noqa: E402

application = EdgeGuard(
    with_socketio(
        ProtocolTypeRouter(
            {
                "http": django_asgi_app,
                "websocket": socket_auth_stack(WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns))),
            }
        )
    ),
    carries_own_credentials=is_socketio_request,
)
