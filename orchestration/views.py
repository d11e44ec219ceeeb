"""``/api/orchestration/*``: thin views over ``orchestration.services``."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestration import selectors, services
from orchestration.paths import normalize_workspace_id
from orchestration.serializers import (
    GlobalObjectSerializer,
    OrchestrationUpdateSerializer,
    WorkspaceObjectSerializer,
    WorkspaceResponseSerializer,
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


def workspace_response(state: selectors.WorkspaceState, totals: selectors.GlobalState) -> Response:
    return Response({"workspace": selectors.workspace_object(state), "global": selectors.global_object(totals)})


class WorkspaceView(APIView):
    """GET the workspace; PUT ``{id}`` or ``{id}/desired`` sets desired; PUT ``{id}/running`` reports running."""

    @extend_schema(
        parameters=[WORKSPACE_ID], responses=WorkspaceResponseSerializer, operation_id="orchestration_workspace_get"
    )
    def get(self, request: Request, workspace_path: str) -> Response:
        path, action = split_workspace_route(request, workspace_path)
        if action is not None:
            raise MethodNotAllowed("GET")
        path = normalize_workspace_id(path)
        return workspace_response(selectors.workspace_state(path), selectors.global_state())

    @extend_schema(
        parameters=[WORKSPACE_ID],
        request=OrchestrationUpdateSerializer,
        responses=WorkspaceResponseSerializer,
        operation_id="orchestration_workspace_put",
        description='`{id}` and `{id}/desired` take `{"desired": n}`; `{id}/running` takes `{"running": n}`.',
    )
    def put(self, request: Request, workspace_path: str) -> Response:
        path, action = split_workspace_route(request, workspace_path)
        if action == "running":
            state, totals = services.workspace_set_running(path=path, running=required_field(request, "running"))
        else:
            state, totals = services.workspace_set_desired(path=path, desired=required_field(request, "desired"))
        return workspace_response(state, totals)


class GlobalView(APIView):
    @extend_schema(responses=GlobalObjectSerializer)
    def get(self, request: Request) -> Response:
        return Response(selectors.global_object(selectors.global_state()))


class WorkspaceListView(APIView):
    @extend_schema(responses=WorkspaceObjectSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response([selectors.workspace_object(state) for state in selectors.workspace_states()])
