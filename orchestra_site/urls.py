"""The hub's routes. The desktop app's paths sit at the root without trailing slashes; the
orchestration API sits under ``/api/``. Unknown paths answer JSON 404 (``errors.JsonErrorMiddleware``)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.renderers import OpenApiJsonRenderer2
from drf_spectacular.views import SpectacularAPIView

from orchestra_site.docs import ApiDocsView
from orchestra_site.health import HealthView

urlpatterns = [
    path("health", HealthView.as_view(), name="health"),
    path("api/orchestration/", include("orchestration.urls")),
    # JSON only, so that errors (401) are JSON like everywhere else.
    path("api/schema/", SpectacularAPIView.as_view(renderer_classes=[OpenApiJsonRenderer2]), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("projects.urls")),
    path("", include("agents.urls")),
]
