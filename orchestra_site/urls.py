"""The hub's routes. The desktop app's paths sit at the root without trailing slashes; the
orchestration API sits under ``/api/``, the web console under ``/console/`` (where a browser that
opens ``/`` is sent). Unknown paths answer JSON 404 (``errors.JsonErrorMiddleware``)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.renderers import OpenApiJsonRenderer2
from drf_spectacular.views import SpectacularAPIView

from orchestra_site.api.docs import ApiDocsView
from orchestra_site.api.health import HealthView
from orchestra_site.console.views import root

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("api/orchestration/", include("orchestration.urls")),
    # JSON only, so that errors (401) are JSON like everywhere else.
    path("api/schema/", SpectacularAPIView.as_view(renderer_classes=[OpenApiJsonRenderer2]), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("console", RedirectView.as_view(pattern_name="console-workspaces")),
    path("console/", include("orchestra_site.console.urls")),
    path("console/", include("orchestration.console")),
    path("console/", include("projects.console")),
    path("console/", include("agents.console")),
    path("", root, name="root"),
    path("", include("projects.urls")),
    path("", include("agents.urls")),
]
