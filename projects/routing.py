from __future__ import annotations

from django.urls import re_path

from projects.consumers import ProjectConsumer

# 18 digits at most, like the HTTP routes: a longer id is an unknown route (closed with 4004).
websocket_urlpatterns = [re_path(r"^projects/(?P<pid>\d{1,18})/subscribe/?$", ProjectConsumer.as_asgi())]
