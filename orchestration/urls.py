from __future__ import annotations

from django.urls import path

from orchestration import views

app_name = "orchestration"

urlpatterns = [
    path("workspace/<path:workspace_path>", views.WorkspaceView.as_view(), name="workspace"),
    path("global", views.GlobalView.as_view(), name="global"),
    path("workspaces", views.WorkspaceListView.as_view(), name="workspaces"),
]
