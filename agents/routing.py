from __future__ import annotations

from django.urls import re_path

from agents.consumers import TerminalConsumer

websocket_urlpatterns = [
    re_path(r"^projects/(?P<pid>\d+)/executions/(?P<eid>\d+)/terminal/?$", TerminalConsumer.as_asgi()),
]
