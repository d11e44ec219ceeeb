from __future__ import annotations

from django.urls import re_path

from projects.consumers import ProjectConsumer

# 18 digits at most, like the HTTP routes: a longer id is an unknown route (closed with 4004).
# The second path is the same socket under the name the hub's seed document gives it.
websocket_urlpatterns = [
    re_path(r"^projects/(?P<pid>\d{1,18})/subscribe/?$", ProjectConsumer.as_asgi()),
    re_path(r"^ws/subscribe/(?P<pid>\d{1,18})/?$", ProjectConsumer.as_asgi()),
]
