"""The desktop app's agent routes, at the root without trailing slashes."""

from __future__ import annotations

from django.urls import path

from agents import views, views_dag_runs
from agents.views_flat import ExecutionIndexView, LaunchByBodyView
from agents.views_logs import ExecutionLogView

EXECUTION = "projects/<int:pid>/executions/<int:eid>"

urlpatterns = [
    path("agent-templates", views.TemplateListView.as_view(), name="agent-templates"),
    path("agent-templates/<int:tid>", views.TemplateDetailView.as_view(), name="agent-template"),
    path("agent-templates/<int:tid>/steps", views.StepListView.as_view(), name="agent-steps"),
    path("agent-templates/<int:tid>/steps/<int:sid>", views.StepDetailView.as_view(), name="agent-step"),
    path("agent-templates/<int:tid>/edges", views.StepEdgeView.as_view(), name="agent-step-edges"),
    path("projects/<int:pid>/executions", views.ExecutionListView.as_view(), name="executions"),
    path(EXECUTION, views.ExecutionDetailView.as_view(), name="execution"),
    path(f"{EXECUTION}/cancel", views.ExecutionCancelView.as_view(), name="execution-cancel"),
    path(f"{EXECUTION}/attach-command", views.ExecutionAttachCommandView.as_view(), name="execution-attach-command"),
    path(f"{EXECUTION}/log", ExecutionLogView.as_view(), name="execution-log"),
    path(f"{EXECUTION}/steps/<int:srid>", views.StepRunDetailView.as_view(), name="step-run"),
    path("projects/<int:pid>/nodes/<int:nid>/preview", views.LaunchPreviewView.as_view(), name="launch-preview"),
    path("projects/<int:pid>/nodes/<int:nid>/launch", views.LaunchView.as_view(), name="launch"),
    path("projects/<int:pid>/dag-runs", views_dag_runs.DagRunListView.as_view(), name="dag-runs"),
    path("projects/<int:pid>/dag-runs/<int:rid>", views_dag_runs.DagRunDetailView.as_view(), name="dag-run"),
    path(
        "projects/<int:pid>/dag-runs/<int:rid>/cancel", views_dag_runs.DagRunCancelView.as_view(), name="dag-run-cancel"
    ),
    path("executions", ExecutionIndexView.as_view(), name="execution-index"),
    path("launch", LaunchByBodyView.as_view(), name="launch-by-body"),
]
