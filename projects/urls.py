"""The desktop app's project routes, at the root and without trailing slashes: the viewsets on a
``HubRouter``, a project's children under its id."""

from __future__ import annotations

from django.urls import path

from orchestra_site.api.routers import DB_ID, HubRouter
from projects import deliverable_views, views

router = HubRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register(rf"projects/(?P<pid>{DB_ID})/nodes", views.NodeViewSet, basename="node")
router.register(rf"projects/(?P<pid>{DB_ID})/runs", views.RunViewSet, basename="run")
router.register("tasks", views.TaskViewSet, basename="task")
router.register(
    rf"projects/(?P<pid>{DB_ID})/nodes/(?P<nid>{DB_ID})/deliverables",
    deliverable_views.DeliverableViewSet,
    basename="deliverable",
)

# A node has at most one hook configuration: its routes have no id of their own.
hook = deliverable_views.HookViewSet
urlpatterns = [
    *router.urls,
    path(
        "projects/<dbid:pid>/nodes/<dbid:nid>/hook",
        hook.as_view({"get": "retrieve", "post": "create", "patch": "partial_update", "delete": "destroy"}),
        name="node-hook",
    ),
    path(
        "projects/<dbid:pid>/nodes/<dbid:nid>/hook/execute", hook.as_view({"post": "execute"}), name="node-hook-execute"
    ),
    path("projects/<dbid:pid>/nodes/<dbid:nid>/validate", hook.as_view({"post": "validate"}), name="node-validate"),
]
