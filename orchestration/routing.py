from __future__ import annotations

from django.urls import re_path

from orchestration.consumers import OrchestrationConsumer

websocket_urlpatterns = [re_path(r"^orchestration/?$", OrchestrationConsumer.as_asgi())]
