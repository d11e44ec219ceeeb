"""The desktop app's project routes, at the root and without trailing slashes: the viewsets on a
``HubRouter``, a project's children under its id."""

from __future__ import annotations

from orchestra_site.api.routers import DB_ID, HubRouter
from projects import views

router = HubRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register(rf"projects/(?P<pid>{DB_ID})/nodes", views.NodeViewSet, basename="node")
router.register(rf"projects/(?P<pid>{DB_ID})/runs", views.RunViewSet, basename="run")
router.register("tasks", views.TaskViewSet, basename="task")

urlpatterns = router.urls
