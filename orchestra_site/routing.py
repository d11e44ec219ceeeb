"""Every WebSocket route of the hub; an unknown path is closed with 4004."""

from __future__ import annotations

from django.urls import re_path

from agents.routing import websocket_urlpatterns as agent_routes
from orchestra_site.realtime.consumers import UnknownRouteConsumer
from orchestration.routing import websocket_urlpatterns as orchestration_routes
from projects.routing import websocket_urlpatterns as project_routes

websocket_urlpatterns = [
    *orchestration_routes,
    *project_routes,
    *agent_routes,
    re_path(r"", UnknownRouteConsumer.as_asgi()),
]
