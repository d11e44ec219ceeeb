"""The desktop app's agent routes, at the root without trailing slashes."""

from __future__ import annotations

from rest_framework.routers import DynamicRoute, Route

from agents import pipeline_views, spend_views, views, views_messages
from orchestra_site.api.routers import DB_ID, HubRouter


class AgentsRouter(HubRouter):
    """``HubRouter`` with the route names the console and the tests reverse: a collection is the
    plural of its basename (``executions``), one object the basename (``execution``), and an
    action names itself in full (``@action(url_name="execution-cancel")``)."""

    routes = [
        Route(
            url=r"^{prefix}{trailing_slash}$",
            mapping={"get": "list", "post": "create"},
            name="{basename}s",
            detail=False,
            initkwargs={"suffix": "List"},
        ),
        DynamicRoute(url=r"^{prefix}/{url_path}{trailing_slash}$", name="{url_name}", detail=False, initkwargs={}),
        Route(
            url=r"^{prefix}/{lookup}{trailing_slash}$",
            mapping={"get": "retrieve", "patch": "partial_update", "delete": "destroy"},
            name="{basename}",
            detail=True,
            initkwargs={"suffix": "Instance"},
        ),
        DynamicRoute(
            url=r"^{prefix}/{lookup}/{url_path}{trailing_slash}$", name="{url_name}", detail=True, initkwargs={}
        ),
    ]


PROJECT = rf"projects/(?P<pid>{DB_ID})"

router = AgentsRouter()
router.register("agent-templates", views.TemplateViewSet, basename="agent-template")
router.register(rf"agent-templates/(?P<tid>{DB_ID})/steps", views.StepViewSet, basename="agent-step")
router.register(rf"{PROJECT}/executions", views.ExecutionViewSet, basename="execution")
router.register(rf"{PROJECT}/executions/(?P<eid>{DB_ID})/steps", views.StepRunViewSet, basename="step-run")
router.register(
    rf"{PROJECT}/executions/(?P<eid>{DB_ID})/messages",
    views_messages.ExecutionMessageViewSet,
    basename="execution-message",
)
router.register(rf"{PROJECT}/nodes", views.LaunchViewSet, basename="launch")
router.register(rf"{PROJECT}/nodes", pipeline_views.PipelineViewSet, basename="pipeline")
router.register(rf"{PROJECT}/dag-runs", views.DagRunViewSet, basename="dag-run")
router.register("spend", spend_views.SpendViewSet, basename="spend")
router.register("", views.FlatViewSet, basename="flat")

urlpatterns = router.urls
