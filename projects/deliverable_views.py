"""The deliverables and hooks API: a node's outputs, its hook configuration, and the checks.

``/projects/{pid}/nodes/{nid}/deliverables[/{did}]``, ``.../hook``, ``.../hook/execute`` and
``.../validate``. Deletes answer 200 ``{"status": "deleted"}``, as the desktop app's reference hub
does (its client accepts that or a 204).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from orchestra_site.api.serializers import to_json, to_json_list
from orchestra_site.api.viewsets import DatabaseIdViewSet, validated
from projects import deliverable_selectors as selectors
from projects.deliverable_serializers import (
    DeletedSerializer,
    DeliverableCreateSerializer,
    DeliverableFilterSerializer,
    DeliverableSerializer,
    DeliverableUpdateSerializer,
    HookInputSerializer,
    HookNodeSerializer,
    HookResultSerializer,
)
from projects.fields import IdField, StrictCharField
from projects.models import TITLE_MAX
from projects.services import deliverables as deliverable_services
from projects.services import hooks as hook_services
from projects.views import ERR, ERRORS, query

DELETED = {200: OpenApiResponse(DeletedSerializer, description='`{"status": "deleted"}`'), 404: ERR}


def deleted() -> Response:
    return Response({"status": "deleted"})


class DeliverableViewSet(DatabaseIdViewSet):
    lookup_url_kwarg = "did"

    @extend_schema(
        parameters=[DeliverableFilterSerializer],
        responses={200: DeliverableSerializer(many=True), **ERRORS},
        summary="The node's deliverables, newest first",
    )
    def list(self, request: Request, pid: int, nid: int) -> Response:
        project_id, node_id = pid, nid
        filters = query(
            DeliverableFilterSerializer,
            request,
            exists=lambda: selectors.node_in_project(project_id=project_id, node_id=node_id),
        )
        rows = selectors.deliverable_list(project_id=project_id, node_id=node_id, **filters)
        return Response(to_json_list(DeliverableSerializer, rows))

    @extend_schema(
        request=DeliverableCreateSerializer,
        responses={201: DeliverableSerializer, **ERRORS},
        description="`node_id` in the body is optional and ignored: the path's node wins.",
    )
    def create(self, request: Request, pid: int, nid: int) -> Response:
        project_id, node_id = pid, nid
        node = selectors.node_in_project(project_id=project_id, node_id=node_id)
        fields = validated(DeliverableCreateSerializer(data=request.data))
        deliverable = deliverable_services.deliverable_create(node=node, **fields)
        return Response(to_json(DeliverableSerializer, deliverable), status=201)

    @extend_schema(responses={200: DeliverableSerializer, 404: ERR})
    def retrieve(self, request: Request, pid: int, nid: int, did: int) -> Response:
        deliverable = selectors.deliverable_get(project_id=pid, node_id=nid, deliverable_id=did)
        return Response(to_json(DeliverableSerializer, deliverable))

    @extend_schema(request=DeliverableUpdateSerializer, responses={200: DeliverableSerializer, **ERRORS})
    def partial_update(self, request: Request, pid: int, nid: int, did: int) -> Response:
        deliverable = selectors.deliverable_get(project_id=pid, node_id=nid, deliverable_id=did)
        changes = validated(DeliverableUpdateSerializer(data=request.data))
        updated = deliverable_services.deliverable_update(deliverable=deliverable, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(DeliverableSerializer, updated))

    @extend_schema(responses=DELETED)
    def destroy(self, request: Request, pid: int, nid: int, did: int) -> Response:
        deliverable = selectors.deliverable_get(project_id=pid, node_id=nid, deliverable_id=did)
        deliverable_services.deliverable_delete(deliverable=deliverable)
        return deleted()


class HookExecuteQuerySerializer(serializers.Serializer):
    source_node_id = IdField(help_text="The node whose deliverables are checked.")


class DeliverableNamesSerializer(serializers.Serializer):
    names = serializers.ListField(child=StrictCharField(max_length=TITLE_MAX))


class HookViewSet(DatabaseIdViewSet):
    # /projects/{pid}/nodes/{nid}/hook: one configuration per node, so no id of its own.

    @extend_schema(responses={200: HookNodeSerializer, 404: ERR})
    def retrieve(self, request: Request, pid: int, nid: int) -> Response:
        return Response(to_json(HookNodeSerializer, selectors.hook_get(project_id=pid, node_id=nid)))

    @extend_schema(
        request=HookInputSerializer,
        responses={201: HookNodeSerializer, **ERRORS},
        description="Makes the node a `hook` node. `node_id` in the body is optional and ignored.",
    )
    def create(self, request: Request, pid: int, nid: int) -> Response:
        project_id, node_id = pid, nid
        selectors.node_in_project(project_id=project_id, node_id=node_id)
        fields = validated(HookInputSerializer(data=request.data))
        hook = hook_services.hook_create(project_id=project_id, node_id=node_id, **fields)
        return Response(to_json(HookNodeSerializer, hook), status=201)

    @extend_schema(request=HookInputSerializer, responses={200: HookNodeSerializer, **ERRORS})
    def partial_update(self, request: Request, pid: int, nid: int) -> Response:
        project_id, node_id = pid, nid
        selectors.hook_get(project_id=project_id, node_id=node_id)
        changes = validated(HookInputSerializer(data=request.data, partial=True))
        hook = hook_services.hook_update(project_id=project_id, node_id=node_id, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(HookNodeSerializer, hook))

    @extend_schema(responses=DELETED, description="Idempotent; a `hook` node becomes a `task` again.")
    def destroy(self, request: Request, pid: int, nid: int) -> Response:
        hook_services.hook_delete(project_id=pid, node_id=nid)
        return deleted()

    @extend_schema(
        request=None,
        parameters=[HookExecuteQuerySerializer],
        responses={200: HookResultSerializer, **ERRORS},
        description=(
            "Checks the source node's newest completed or validated deliverable of each name against the "
            "hook's rules and marks each `validated` or `failed`. Runs no command."
        ),
    )
    def execute(self, request: Request, pid: int, nid: int) -> Response:
        project_id, node_id = pid, nid
        params = query(
            HookExecuteQuerySerializer,
            request,
            exists=lambda: selectors.hook_node_get(project_id=project_id, node_id=node_id),
        )
        result = hook_services.hook_execute(project_id=project_id, node_id=node_id, **params)
        return Response(HookResultSerializer(result).data)

    @extend_schema(
        request={"application/json": {"type": "array", "items": {"type": "string"}}},
        responses={200: HookResultSerializer, **ERRORS},
        description="A bare JSON array of deliverable names, checked with the default rules; writes nothing.",
    )
    def validate(self, request: Request, pid: int, nid: int) -> Response:
        project_id, node_id = pid, nid
        body = validated(
            DeliverableNamesSerializer(data={"names": _body(request)}),
            exists=lambda: selectors.node_in_project(project_id=project_id, node_id=node_id),
        )
        result = hook_services.node_validate(project_id=project_id, node_id=node_id, names=body["names"])
        return Response(HookResultSerializer(result).data)


def _body(request: Request) -> Any:
    # A request without a body parses as an empty form (a QueryDict): an object, not a list.
    data = request.data
    return dict(data) if isinstance(data, Mapping) else data
