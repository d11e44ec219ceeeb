"""The projects API: viewsets over ``projects.services`` and ``selectors``.

Each action validates its input, calls one service or selector and serializes the answer. A
missing object is the service's or selector's ``NotFound``; when the input is also invalid, the
404 wins (the parent is looked at only on that error path, so a good request reads it once).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from orchestra_site.api.serializers import to_json, to_json_list
from orchestra_site.api.viewsets import DatabaseIdViewSet, no_content, validated
from projects import selectors, services
from projects.serializers import (
    ErrorSerializer,
    GraphSerializer,
    NodeInputSerializer,
    NodeSerializer,
    PlanRequestSerializer,
    PlanSerializer,
    ProjectInputSerializer,
    ProjectSerializer,
    RunCreateSerializer,
    RunFilterSerializer,
    RunSerializer,
    RunUpdateSerializer,
    TaskFilterSerializer,
    TaskInputSerializer,
    TaskSerializer,
)

ERR = OpenApiResponse(ErrorSerializer, description="`{detail}`")
ERRORS = {400: ERR, 404: ERR}
DELETED = {204: OpenApiResponse(description="Deleted; empty body."), 404: ERR}


def query(serializer_class: type[serializers.Serializer], request: Request, **kwargs: Any) -> dict[str, Any]:
    # A plain dict, not the QueryDict: DRF reads a missing boolean in "HTML input" as false.
    return validated(serializer_class(data=request.query_params.dict()), **kwargs)


class ProjectViewSet(DatabaseIdViewSet):
    lookup_url_kwarg = "pid"

    @extend_schema(responses={200: ProjectSerializer(many=True)}, summary="Projects, newest first")
    def list(self, request: Request) -> Response:
        return Response(to_json_list(ProjectSerializer, selectors.project_list()))

    @extend_schema(request=ProjectInputSerializer, responses={201: ProjectSerializer, 400: ERR})
    def create(self, request: Request) -> Response:
        project = services.project_create(**validated(ProjectInputSerializer(data=request.data)))
        return Response(to_json(ProjectSerializer, project), status=201)

    @extend_schema(responses={200: ProjectSerializer, 404: ERR})
    def retrieve(self, request: Request, pid: int) -> Response:
        return Response(to_json(ProjectSerializer, selectors.project_get(pid)))

    @extend_schema(request=ProjectInputSerializer, responses={200: ProjectSerializer, **ERRORS})
    def partial_update(self, request: Request, pid: int) -> Response:
        changes = validated(ProjectInputSerializer(data=request.data, partial=True))
        project = services.project_update(project_id=pid, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(ProjectSerializer, project))

    @extend_schema(responses=DELETED, description="Deletes its nodes, edges, tasks and runs.")
    def destroy(self, request: Request, pid: int) -> Response:
        services.project_delete(project_id=pid)
        return no_content()

    @extend_schema(responses={200: GraphSerializer, 404: ERR})
    @action(detail=True, methods=["get"])
    def graph(self, request: Request, pid: int) -> Response:
        return Response(to_json(GraphSerializer, selectors.project_graph(pid)))

    @extend_schema(
        request=PlanRequestSerializer,
        responses={200: PlanSerializer, **ERRORS, 429: ERR, 503: ERR},
        description=(
            "A draft of nodes and index edges from the planner agent; nothing is stored. 429 (with "
            "Retry-After) when ORCHESTRA_PLAN_CONCURRENCY plans are already running."
        ),
    )
    @action(detail=True, methods=["post"])
    def plan(self, request: Request, pid: int) -> Response:
        project_id = pid
        body = validated(PlanRequestSerializer(data=request.data), exists=lambda: selectors.project_require(project_id))
        resources = [dict(resource) for resource in body.get("resources") or []]
        plan = services.plan_generate(project_id=project_id, prompt=body["prompt"], resources=resources)  # type: ignore[arg-type]
        return Response(plan)


class NodeViewSet(DatabaseIdViewSet):
    # /projects/{pid}/nodes: the desktop app reads nodes through /graph; this is the seed's list.

    lookup_url_kwarg = "nid"

    @extend_schema(
        responses={200: NodeSerializer(many=True), 404: ERR},
        summary="The project's nodes, ascending id",
        description="The desktop app reads nodes through `/graph`; this list is the seed's `GET /projects/{id}/nodes`.",
    )
    def list(self, request: Request, pid: int) -> Response:
        return Response(to_json_list(NodeSerializer, selectors.node_list(pid)))

    @extend_schema(request=NodeInputSerializer, responses={201: NodeSerializer, **ERRORS})
    def create(self, request: Request, pid: int) -> Response:
        project_id = pid
        fields = validated(NodeInputSerializer(data=request.data), exists=lambda: selectors.project_require(project_id))
        # The service locks the project (404 when it is missing) and checks the parents it links.
        node = services.node_create(project_id=project_id, **fields)
        return Response(to_json(NodeSerializer, node), status=201)

    @extend_schema(responses={200: NodeSerializer, 404: ERR})
    def retrieve(self, request: Request, pid: int, nid: int) -> Response:
        return Response(to_json(NodeSerializer, selectors.node_get(project_id=pid, node_id=nid)))

    @extend_schema(request=NodeInputSerializer, responses={200: NodeSerializer, **ERRORS})
    def partial_update(self, request: Request, pid: int, nid: int) -> Response:
        project_id, node_id = pid, nid
        changes = validated(
            NodeInputSerializer(data=request.data, partial=True),
            exists=lambda: selectors.node_get(project_id=project_id, node_id=node_id),
        )
        node = services.node_update(project_id=project_id, node_id=node_id, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(NodeSerializer, node))

    @extend_schema(responses=DELETED, description="Deletes its edges, runs and tasks.")
    def destroy(self, request: Request, pid: int, nid: int) -> Response:
        services.node_delete(project_id=pid, node_id=nid)
        return no_content()


class TaskViewSet(DatabaseIdViewSet):
    lookup_url_kwarg = "tid"

    @extend_schema(
        parameters=[TaskFilterSerializer],
        responses={200: TaskSerializer(many=True), 400: ERR},
        summary="Tasks, highest priority first, then newest",
    )
    def list(self, request: Request) -> Response:
        return Response(to_json_list(TaskSerializer, selectors.task_list(**query(TaskFilterSerializer, request))))

    @extend_schema(request=TaskInputSerializer, responses={201: TaskSerializer, 400: ERR})
    def create(self, request: Request) -> Response:
        task = services.task_create(**validated(TaskInputSerializer(data=request.data)))
        return Response(to_json(TaskSerializer, task), status=201)

    @extend_schema(responses={200: TaskSerializer, 404: ERR})
    def retrieve(self, request: Request, tid: int) -> Response:
        return Response(to_json(TaskSerializer, selectors.task_get(tid)))

    @extend_schema(request=TaskInputSerializer, responses={200: TaskSerializer, **ERRORS})
    def partial_update(self, request: Request, tid: int) -> Response:
        task_id = tid
        changes = validated(
            TaskInputSerializer(data=request.data, partial=True), exists=lambda: selectors.task_get(task_id)
        )
        task = services.task_update(task_id=task_id, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(TaskSerializer, task))

    @extend_schema(responses=DELETED)
    def destroy(self, request: Request, tid: int) -> Response:
        services.task_delete(task_id=tid)
        return no_content()


class RunViewSet(DatabaseIdViewSet):
    # /projects/{pid}/runs: a run is created from a node and a prompt, then reports its progress, so
    # its create and update bodies are two shapes (RunCreateSerializer, RunUpdateSerializer).

    lookup_url_kwarg = "rid"

    @extend_schema(
        parameters=[RunFilterSerializer],
        responses={200: RunSerializer(many=True), **ERRORS},
        summary="Runs of the project, newest first",
    )
    def list(self, request: Request, pid: int) -> Response:
        project_id = pid
        filters = query(RunFilterSerializer, request, exists=lambda: selectors.project_require(project_id))
        return Response(to_json_list(RunSerializer, selectors.run_list(project_id=project_id, **filters)))

    @extend_schema(request=RunCreateSerializer, responses={201: RunSerializer, **ERRORS})
    def create(self, request: Request, pid: int) -> Response:
        project_id = pid
        fields = validated(RunCreateSerializer(data=request.data), exists=lambda: selectors.project_require(project_id))
        run = services.run_create(project_id=project_id, **fields)
        return Response(to_json(RunSerializer, run), status=201)

    @extend_schema(responses={200: RunSerializer, 404: ERR})
    def retrieve(self, request: Request, pid: int, rid: int) -> Response:
        return Response(to_json(RunSerializer, selectors.run_get(project_id=pid, run_id=rid)))

    @extend_schema(request=RunUpdateSerializer, responses={200: RunSerializer, **ERRORS})
    def partial_update(self, request: Request, pid: int, rid: int) -> Response:
        project_id, run_id = pid, rid
        changes = validated(
            RunUpdateSerializer(data=request.data),
            exists=lambda: selectors.run_get(project_id=project_id, run_id=run_id),
        )
        run = services.run_update(project_id=project_id, run_id=run_id, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(RunSerializer, run))
