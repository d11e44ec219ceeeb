"""The web console under ``/console/``; its pages read, its scripts write through the REST API."""

from __future__ import annotations

from django.urls import path

from orchestra_site.console import views

urlpatterns = [
    path("", views.workspaces, name="console-workspaces"),
    path("login", views.ConsoleLoginView.as_view(), name="console-login"),
    path("logout", views.ConsoleLogoutView.as_view(), name="console-logout"),
    path("projects", views.projects, name="console-projects"),
    path("projects/<int:pid>", views.project, name="console-project"),
    path("executions", views.executions, name="console-executions"),
    path("projects/<int:pid>/executions/<int:eid>", views.execution, name="console-execution"),
    path("templates", views.templates, name="console-templates"),
    path("templates/<int:tid>", views.template, name="console-template"),
]
