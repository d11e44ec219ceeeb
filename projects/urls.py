"""The desktop app's project routes, at the root and without trailing slashes."""

from __future__ import annotations

from django.urls import path, register_converter

from projects import views


class DatabaseIdConverter:
    """A positive id that fits a 64-bit column: 18 digits at most, so SQLite never overflows.

    Anything else (``abc``, ``-1``, a 30-digit number) matches no route: JSON 404.
    """

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(DatabaseIdConverter, "dbid")

urlpatterns = [
    path("projects", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<dbid:pid>", views.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<dbid:pid>/graph", views.GraphView.as_view(), name="project-graph"),
    path("projects/<dbid:pid>/nodes", views.NodeListView.as_view(), name="node-list"),
    path("projects/<dbid:pid>/nodes/<dbid:nid>", views.NodeDetailView.as_view(), name="node-detail"),
    path("projects/<dbid:pid>/runs", views.RunListView.as_view(), name="run-list"),
    path("projects/<dbid:pid>/runs/<dbid:rid>", views.RunDetailView.as_view(), name="run-detail"),
    path("projects/<dbid:pid>/plan", views.PlanView.as_view(), name="project-plan"),
    path("tasks", views.TaskListView.as_view(), name="task-list"),
    path("tasks/<dbid:tid>", views.TaskDetailView.as_view(), name="task-detail"),
]
