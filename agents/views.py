"""The desktop app's agent endpoints: thin views over the services.

Each view validates its body with a serializer, calls one service or selector and answers the
selector's dict. Errors are the services' domain exceptions, turned into JSON by the handler.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from agents import serializers as s
from agents.services import executions, launch, templates


def validated(serializer_class: type[serializers.Serializer], data: Any, *, partial: bool = False) -> dict[str, Any]:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def no_content() -> Response:
    return Response(status=status.HTTP_204_NO_CONTENT)


# --- Templates ----------------------------------------------------------------------------------


class TemplateListView(APIView):
    @extend_schema(responses=s.TemplateSerializer(many=True), summary="Templates, newest first (no steps)")
    def get(self, request: Request) -> Response:
        return Response([selectors.template_data(template) for template in selectors.template_list()])

    @extend_schema(
        request=s.TemplateCreateSerializer,
        responses={201: s.TemplateWithStepsSerializer},
        summary="Create a template with its steps; edges are zero-based indices into steps",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.TemplateCreateSerializer, request.data)
        template = templates.template_create(
            name=data["name"],
            description=data.get("description"),
            metadata=data.get("metadata"),
            steps=data.get("steps", []),
            edges=[(edge["parent_id"], edge["child_id"]) for edge in data.get("edges", [])],
        )
        return Response(selectors.template_with_steps_data(template), status=status.HTTP_201_CREATED)


class TemplateDetailView(APIView):
    @extend_schema(responses=s.TemplateWithStepsSerializer)
    def get(self, request: Request, tid: int) -> Response:
        return Response(selectors.template_with_steps_data(selectors.template_get(tid)))

    @extend_schema(
        request=s.TemplateUpdateSerializer, responses=s.TemplateSerializer, summary="Partial update (no steps)"
    )
    def patch(self, request: Request, tid: int) -> Response:
        changes = validated(s.TemplateUpdateSerializer, request.data, partial=True)
        template = templates.template_update(template_id=tid, changes=changes)  # type: ignore[arg-type]
        return Response(selectors.template_data(template))

    @extend_schema(responses={204: None}, summary="Delete with its steps and edges; executions are detached")
    def delete(self, request: Request, tid: int) -> Response:
        templates.template_delete(template_id=tid)
        return no_content()


class StepListView(APIView):
    @extend_schema(request=s.StepWriteSerializer, responses={201: s.StepSerializer})
    def post(self, request: Request, tid: int) -> Response:
        fields = validated(s.StepWriteSerializer, request.data)
        step = templates.step_create(template_id=tid, fields=fields)  # type: ignore[arg-type]
        return Response(selectors.step_data(step, [], []), status=status.HTTP_201_CREATED)


class StepDetailView(APIView):
    @extend_schema(
        request=s.StepWriteSerializer,
        responses=s.StepSerializer,
        summary="Partial update; read-only keys (ids, parent_ids, child_ids, timestamps) are ignored",
    )
    def patch(self, request: Request, tid: int, sid: int) -> Response:
        changes = validated(s.StepWriteSerializer, request.data, partial=True)
        step = templates.step_update(template_id=tid, step_id=sid, changes=changes)  # type: ignore[arg-type]
        return Response(selectors.step_data(step))

    @extend_schema(responses={204: None}, summary="Delete the step and every edge touching it")
    def delete(self, request: Request, tid: int, sid: int) -> Response:
        templates.step_delete(template_id=tid, step_id=sid)
        return no_content()


class StepEdgeView(APIView):
    @extend_schema(request=s.StepEdgeSerializer, responses={201: s.StepEdgeSerializer})
    def post(self, request: Request, tid: int) -> Response:
        data = validated(s.StepEdgeSerializer, request.data)
        edge = templates.edge_create(template_id=tid, parent_id=data["parent_id"], child_id=data["child_id"])
        return Response(selectors.edge_data(edge), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.StepEdgeSerializer,
        responses={204: None},
        summary="Delete an edge named in the JSON body; idempotent",
    )
    def delete(self, request: Request, tid: int) -> Response:
        data = validated(s.StepEdgeSerializer, request.data)
        templates.edge_delete(template_id=tid, parent_id=data["parent_id"], child_id=data["child_id"])
        return no_content()


# --- Executions ---------------------------------------------------------------------------------

LIST_FILTERS = [
    OpenApiParameter("node_id", int, OpenApiParameter.QUERY, required=False),
    OpenApiParameter("template_id", int, OpenApiParameter.QUERY, required=False),
]


class ExecutionListView(APIView):
    @extend_schema(parameters=LIST_FILTERS, responses=s.ExecutionSerializer(many=True), summary="Newest first")
    def get(self, request: Request, pid: int) -> Response:
        filters = validated(s.ExecutionListQuerySerializer, request.query_params)
        found = selectors.execution_list(project_id=pid, **filters)
        return Response([selectors.execution_data(execution) for execution in found])

    @extend_schema(
        request=s.ExecutionCreateSerializer,
        responses={201: s.ExecutionWithStepRunsSerializer},
        summary="Store an execution and its step runs; nothing is started",
    )
    def post(self, request: Request, pid: int) -> Response:
        data = validated(s.ExecutionCreateSerializer, request.data)
        execution = executions.execution_create(project_id=pid, **data)
        return Response(selectors.execution_with_step_runs_data(execution), status=status.HTTP_201_CREATED)


class ExecutionDetailView(APIView):
    @extend_schema(responses=s.ExecutionWithStepRunsSerializer)
    def get(self, request: Request, pid: int, eid: int) -> Response:
        execution = selectors.execution_get(project_id=pid, execution_id=eid)
        return Response(selectors.execution_with_step_runs_data(execution))

    @extend_schema(request=s.ExecutionUpdateSerializer, responses=s.ExecutionSerializer)
    def patch(self, request: Request, pid: int, eid: int) -> Response:
        changes = validated(s.ExecutionUpdateSerializer, request.data, partial=True)
        execution = executions.execution_update(project_id=pid, execution_id=eid, changes=changes)  # type: ignore[arg-type]
        return Response(selectors.execution_data(execution))


class ExecutionCancelView(APIView):
    @extend_schema(request=None, responses=s.ExecutionSerializer, summary="Cancel; active step runs become skipped")
    def post(self, request: Request, pid: int, eid: int) -> Response:
        execution = executions.execution_cancel(project_id=pid, execution_id=eid)
        return Response(selectors.execution_data(execution))


class ExecutionAttachCommandView(APIView):
    @extend_schema(responses=s.AttachCommandSerializer, summary="A shell command that follows the execution live")
    def get(self, request: Request, pid: int, eid: int) -> Response:
        return Response(selectors.execution_attach_command(project_id=pid, execution_id=eid))


class StepRunDetailView(APIView):
    @extend_schema(request=s.StepRunUpdateSerializer, responses=s.StepRunSerializer)
    def patch(self, request: Request, pid: int, eid: int, srid: int) -> Response:
        changes = validated(s.StepRunUpdateSerializer, request.data, partial=True)
        step_run = executions.step_run_update(
            project_id=pid,
            execution_id=eid,
            step_run_id=srid,
            changes=changes,  # type: ignore[arg-type]
        )
        return Response(selectors.step_run_data(step_run))


# --- Launch -------------------------------------------------------------------------------------


class LaunchPreviewView(APIView):
    @extend_schema(
        request=s.LaunchRequestSerializer,
        responses=s.LaunchPreviewSerializer,
        summary="The prompts a launch would store; no side effects",
    )
    def post(self, request: Request, pid: int, nid: int) -> Response:
        data = validated(s.LaunchRequestSerializer, request.data)
        preview = launch.launch_preview(
            project_id=pid, node_id=nid, template_id=data["template_id"], context=data["context"]
        )
        return Response(preview)


class LaunchView(APIView):
    @extend_schema(
        request=s.LaunchRequestSerializer,
        responses={201: s.ExecutionWithStepRunsSerializer},
        summary="Create an execution of the template on the node and queue it for the hub's runner",
    )
    def post(self, request: Request, pid: int, nid: int) -> Response:
        data = validated(s.LaunchRequestSerializer, request.data)
        execution = launch.launch(project_id=pid, node_id=nid, **data)
        return Response(selectors.execution_with_step_runs_data(execution), status=status.HTTP_201_CREATED)
