"""``/api/orchestration/``: the workspace viewsets on a router, and the totals on a plain route
(a singleton, which a router has no shape for)."""

from __future__ import annotations

from django.urls import path

from orchestra_site.api.routers import HubRouter
from orchestration import views

app_name = "orchestration"

router = HubRouter()
router.register("workspace", views.WorkspaceViewSet, basename="workspace")
router.register("workspaces", views.WorkspaceListViewSet, basename="workspaces")

urlpatterns = [
    path("global", views.GlobalViewSet.as_view({"get": "retrieve"}), name="global"),
    *router.urls,
]
