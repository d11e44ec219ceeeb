"""The projects API (to): thin views over ``projects.services`` and ``selectors``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import selectors, services
from projects.serializers import (
    ErrorSerializer,
    GraphSerializer,
    NodeCreateSerializer,
    NodeSerializer,
    NodeUpdateSerializer,
    PlanRequestSerializer,
    PlanSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    RunCreateSerializer,
    RunFilterSerializer,
    RunSerializer,
    RunUpdateSerializer,
    TaskCreateSerializer,
    TaskFilterSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
)


def _id(name: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH)


PID, NID, TID, RID = _id("pid"), _id("nid"), _id("tid"), _id("rid")
ERR = OpenApiResponse(ErrorSerializer, description="`{detail}`")
ERRORS = {400: ERR, 404: ERR}
DELETED = {204: OpenApiResponse(description="Deleted; empty body."), 404: ERR}


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validated data, or a 400 whose string ``detail`` names the field (the shared handler)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    # A plain dict, not the QueryDict: DRF reads a missing boolean in "HTML input" as false.
    return validated(serializer_class, request.query_params.dict())


def no_content() -> Response:
    return Response(status=204)


class ProjectListView(APIView):
    @extend_schema(responses={200: ProjectSerializer(many=True)}, summary="Projects, newest first")
    def get(self, request: Request) -> Response:
        return Response([selectors.project_data(project) for project in selectors.project_list()])

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer, 400: ERR})
    def post(self, request: Request) -> Response:
        project = services.project_create(**validated(ProjectCreateSerializer, request.data))
        return Response(selectors.project_data(project), status=201)


class ProjectDetailView(APIView):
    @extend_schema(parameters=[PID], responses={200: ProjectSerializer, 404: ERR})
    def get(self, request: Request, pid: int) -> Response:
        return Response(selectors.project_data(selectors.project_get(pid)))

    @extend_schema(parameters=[PID], request=ProjectUpdateSerializer, responses={200: ProjectSerializer, **ERRORS})
    def patch(self, request: Request, pid: int) -> Response:
        changes = validated(ProjectUpdateSerializer, request.data)
        project = services.project_update(project_id=pid, changes=changes)  # type: ignore[arg-type]
        return Response(selectors.project_data(project))

    @extend_schema(parameters=[PID], responses=DELETED, description="Deletes its nodes, edges, tasks and runs.")
    def delete(self, request: Request, pid: int) -> Response:
        services.project_delete(project_id=pid)
        return no_content()


class GraphView(APIView):
    @extend_schema(parameters=[PID], responses={200: GraphSerializer, 404: ERR})
    def get(self, request: Request, pid: int) -> Response:
        return Response(selectors.graph(pid))


class NodeListView(APIView):
    @extend_schema(
        parameters=[PID],
        responses={200: NodeSerializer(many=True), 404: ERR},
        summary="The project's nodes, ascending id",
        description="The desktop app reads nodes through `/graph`; this list is the seed's `GET /projects/{id}/nodes`.",
    )
    def get(self, request: Request, pid: int) -> Response:
        return Response(selectors.node_list(pid))

    @extend_schema(parameters=[PID], request=NodeCreateSerializer, responses={201: NodeSerializer, **ERRORS})
    def post(self, request: Request, pid: int) -> Response:
        serializer = NodeCreateSerializer(data=request.data)
        if not serializer.is_valid():
            selectors.project_require(pid)  # a missing project is a 404 before any 400
            raise ValidationError(serializer.errors)
        fields = dict(serializer.validated_data)
        # The service locks the project (404 when it is missing) and checks the parents it links.
        node = services.node_create(project_id=pid, **fields)
        return Response(selectors.node_data(node, fields.get("parent_ids", [])), status=201)


class NodeDetailView(APIView):
    @extend_schema(parameters=[PID, NID], responses={200: NodeSerializer, 404: ERR})
    def get(self, request: Request, pid: int, nid: int) -> Response:
        return Response(selectors.node_data(selectors.node_get(project_id=pid, node_id=nid)))

    @extend_schema(parameters=[PID, NID], request=NodeUpdateSerializer, responses={200: NodeSerializer, **ERRORS})
    def patch(self, request: Request, pid: int, nid: int) -> Response:
        selectors.node_get(project_id=pid, node_id=nid)
        changes = validated(NodeUpdateSerializer, request.data)
        node = services.node_update(project_id=pid, node_id=nid, changes=changes)  # type: ignore[arg-type]
        return Response(selectors.node_data(node))

    @extend_schema(parameters=[PID, NID], responses=DELETED, description="Deletes its edges, runs and tasks.")
    def delete(self, request: Request, pid: int, nid: int) -> Response:
        services.node_delete(project_id=pid, node_id=nid)
        return no_content()


class TaskListView(APIView):
    @extend_schema(
        parameters=[TaskFilterSerializer],
        responses={200: TaskSerializer(many=True), 400: ERR},
        summary="Tasks, highest priority first, then newest",
    )
    def get(self, request: Request) -> Response:
        tasks = selectors.task_list(**query(TaskFilterSerializer, request))
        return Response([selectors.task_data(task) for task in tasks])

    @extend_schema(request=TaskCreateSerializer, responses={201: TaskSerializer, 400: ERR})
    def post(self, request: Request) -> Response:
        task = services.task_create(**validated(TaskCreateSerializer, request.data))
        return Response(selectors.task_data(task), status=201)


class TaskDetailView(APIView):
    @extend_schema(parameters=[TID], responses={200: TaskSerializer, 404: ERR})
    def get(self, request: Request, tid: int) -> Response:
        return Response(selectors.task_data(selectors.task_get(tid)))

    @extend_schema(parameters=[TID], request=TaskUpdateSerializer, responses={200: TaskSerializer, **ERRORS})
    def patch(self, request: Request, tid: int) -> Response:
        selectors.task_get(tid)
        changes = validated(TaskUpdateSerializer, request.data)
        task = services.task_update(task_id=tid, changes=changes)  # type: ignore[arg-type]
        return Response(selectors.task_data(task))

    @extend_schema(parameters=[TID], responses=DELETED)
    def delete(self, request: Request, tid: int) -> Response:
        services.task_delete(task_id=tid)
        return no_content()


class RunListView(APIView):
    @extend_schema(
        parameters=[PID, RunFilterSerializer],
        responses={200: RunSerializer(many=True), **ERRORS},
        summary="Runs of the project, newest first",
    )
    def get(self, request: Request, pid: int) -> Response:
        selectors.project_require(pid)
        runs = selectors.run_list(project_id=pid, **query(RunFilterSerializer, request))
        return Response([selectors.run_data(run) for run in runs])

    @extend_schema(parameters=[PID], request=RunCreateSerializer, responses={201: RunSerializer, **ERRORS})
    def post(self, request: Request, pid: int) -> Response:
        selectors.project_require(pid)
        run = services.run_create(project_id=pid, **validated(RunCreateSerializer, request.data))
        return Response(selectors.run_data(run), status=201)


class RunDetailView(APIView):
    @extend_schema(parameters=[PID, RID], responses={200: RunSerializer, 404: ERR})
    def get(self, request: Request, pid: int, rid: int) -> Response:
        return Response(selectors.run_data(selectors.run_get(project_id=pid, run_id=rid)))

    @extend_schema(parameters=[PID, RID], request=RunUpdateSerializer, responses={200: RunSerializer, **ERRORS})
    def patch(self, request: Request, pid: int, rid: int) -> Response:
        selectors.run_get(project_id=pid, run_id=rid)
        changes = validated(RunUpdateSerializer, request.data)
        run = services.run_update(project_id=pid, run_id=rid, changes=changes)  # type: ignore[arg-type]
        return Response(selectors.run_data(run))


class PlanView(APIView):
    @extend_schema(
        parameters=[PID],
        request=PlanRequestSerializer,
        responses={200: PlanSerializer, **ERRORS, 503: ERR},
        description="A draft of nodes and index edges from the planner agent; nothing is stored.",
    )
    def post(self, request: Request, pid: int) -> Response:
        selectors.project_require(pid)
        body = validated(PlanRequestSerializer, request.data)
        resources = [dict(resource) for resource in body.get("resources") or []]
        plan = services.plan_generate(project_id=pid, prompt=body["prompt"], resources=resources)  # type: ignore[arg-type]
        return Response(plan)
