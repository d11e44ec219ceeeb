"""``/api/orchestration/*``: viewsets over ``orchestration.services`` and ``selectors``."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import ViewSet

from orchestration import selectors, services
from orchestration.paths import normalize_workspace_id
from orchestration.serializers import (
    GLOBAL,
    WORKSPACE,
    GlobalObjectSerializer,
    OrchestrationUpdateSerializer,
    WorkspaceObjectSerializer,
    WorkspaceResponseSerializer,
    workspace_response,
)

ACTIONS = ("desired", "running")
PREFIX = "/api/orchestration/workspace/"

WORKSPACE_ID = OpenApiParameter(
    "workspace_path",
    str,
    OpenApiParameter.PATH,
    description="The workspace id (an absolute path, a package or folder name), URL-encoded or not.",
)


def split_workspace_route(request: Request, rest: str) -> tuple[str, str | None]:
    """Split ``<id>[/desired|/running]`` into the workspace id and the action.

    The id may arrive URL-encoded (``%2FUsers%2Fa``, ``%40acme%2Fwidgets``) or not (``/Users/a``,
    ``stoked-projects``). When the raw path is available (ASGI) and the id is percent-encoded, the
    encoded segment is the whole id, so a workspace whose last segment is literally ``desired``
    stays addressable; otherwise a trailing ``/desired`` or ``/running`` is the action.
    """
    raw_path = getattr(request._request, "scope", {}).get("raw_path")
    if raw_path:
        tail = raw_path.decode("latin1").split("?", 1)[0][len(PREFIX) :]
        encoded_id, _, action = tail.partition("/")
        if "%" in encoded_id:
            return unquote(encoded_id), action or None
    head, _, last = rest.rpartition("/")
    if last in ACTIONS and head:
        return head, last
    return rest, None


def required_field(request: Request, field: str) -> Any:
    if not isinstance(request.data, dict):
        raise ValidationError({"body": "must be a JSON object."})
    if field not in request.data:
        raise ValidationError({field: "This field is required."})
    return request.data[field]


class WorkspaceViewSet(ViewSet):
    """GET the workspace; PUT ``{id}`` or ``{id}/desired`` sets desired; PUT ``{id}/running`` reports running."""

    # The lookup is the rest of the path (an id may hold slashes), which split_workspace_route takes
    # apart; the services validate the count and name the field.
    lookup_field = "workspace_path"
    lookup_value_regex = ".+"

    @extend_schema(
        parameters=[WORKSPACE_ID], responses=WorkspaceResponseSerializer, operation_id="orchestration_workspace_get"
    )
    def retrieve(self, request: Request, workspace_path: str) -> Response:
        path, action = split_workspace_route(request, workspace_path)
        if action is not None:
            raise MethodNotAllowed("GET")
        path = normalize_workspace_id(path)
        return Response(workspace_response(selectors.workspace_state(path), selectors.global_state()))

    @extend_schema(
        parameters=[WORKSPACE_ID],
        request=OrchestrationUpdateSerializer,
        responses=WorkspaceResponseSerializer,
        operation_id="orchestration_workspace_put",
        description='`{id}` and `{id}/desired` take `{"desired": n}`; `{id}/running` takes `{"running": n}`.',
    )
    def update(self, request: Request, workspace_path: str) -> Response:
        path, action = split_workspace_route(request, workspace_path)
        if action == "running":
            state, totals = services.workspace_set_running(path=path, running=required_field(request, "running"))
        else:
            state, totals = services.workspace_set_desired(path=path, desired=required_field(request, "desired"))
        return Response(workspace_response(state, totals))


class WorkspaceListViewSet(ViewSet):
    @extend_schema(responses=WorkspaceObjectSerializer(many=True), operation_id="api_orchestration_workspaces_list")
    def list(self, request: Request) -> Response:
        return Response([WORKSPACE.to_representation(workspace) for workspace in selectors.workspace_list()])


class GlobalViewSet(ViewSet):
    # The totals over every workspace: one object, so a plain route (orchestration/urls.py), not a list.
    @extend_schema(responses=GlobalObjectSerializer, operation_id="api_orchestration_global_retrieve")
    def retrieve(self, request: Request) -> Response:
        return Response(GLOBAL.to_representation(selectors.global_state()))
