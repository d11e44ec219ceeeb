"""The desktop app's agent endpoints, as viewsets on ``agents.urls``' router.

Each action parses its input with a serializer, calls one service or selector and serializes the
answer. Errors are the services' domain exceptions, turned into JSON by the one handler.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents import selectors
from agents import serializers as s
from agents.landing_views import LandingActions
from agents.services import dag_runs, executions, templates
from agents.services import launch as launches
from orchestra_site.api.serializers import to_json, to_json_list
from orchestra_site.api.viewsets import DatabaseIdViewSet, no_content, validated
from projects.serializers import ErrorSerializer

ERR = OpenApiResponse(ErrorSerializer, description="`{detail}` naming the field or node")


def created(data: Any) -> Response:
    return Response(data, status=status.HTTP_201_CREATED)


# --- Templates, steps and edges -----------------------------------------------------------------


class TemplateViewSet(DatabaseIdViewSet):
    lookup_url_kwarg = "tid"

    @extend_schema(responses=s.TemplateSerializer(many=True), summary="Templates, newest first (no steps)")
    def list(self, request: Request) -> Response:
        return Response(to_json_list(s.TemplateSerializer, selectors.template_list()))

    @extend_schema(
        request=s.TemplateInputSerializer,
        responses={201: s.TemplateWithStepsSerializer},
        summary="Create a template with its steps; edges are zero-based indices into steps",
    )
    def create(self, request: Request) -> Response:
        data = validated(s.TemplateInputSerializer(data=request.data))
        template = templates.template_create(
            name=data["name"],
            description=data.get("description"),
            metadata=data.get("metadata"),
            max_budget_usd=data.get("max_budget_usd"),
            steps=data.get("steps", []),
            edges=[(edge["parent_id"], edge["child_id"]) for edge in data.get("edges", [])],
        )
        return created(to_json(s.TemplateWithStepsSerializer, template))

    @extend_schema(responses=s.TemplateWithStepsSerializer)
    def retrieve(self, request: Request, tid: int) -> Response:
        return Response(to_json(s.TemplateWithStepsSerializer, selectors.template_get(tid)))

    @extend_schema(
        request=s.TemplateInputSerializer, responses=s.TemplateSerializer, summary="Partial update (no steps)"
    )
    def partial_update(self, request: Request, tid: int) -> Response:
        changes = validated(s.TemplateInputSerializer(data=request.data, partial=True))
        template = templates.template_update(template_id=tid, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(s.TemplateSerializer, template))

    @extend_schema(responses={204: None}, summary="Delete with its steps and edges; executions are detached")
    def destroy(self, request: Request, tid: int) -> Response:
        templates.template_delete(template_id=tid)
        return no_content()

    @extend_schema(request=s.StepEdgeSerializer, responses={201: s.StepEdgeSerializer})
    @action(detail=True, methods=["post"], url_path="edges", url_name="agent-step-edges")
    def edges(self, request: Request, tid: int) -> Response:
        data = validated(s.StepEdgeSerializer(data=request.data))
        edge = templates.edge_create(template_id=tid, parent_id=data["parent_id"], child_id=data["child_id"])
        return created(to_json(s.StepEdgeSerializer, edge))

    @extend_schema(
        request=s.StepEdgeSerializer, responses={204: None}, summary="Delete an edge named in the JSON body; idempotent"
    )
    @edges.mapping.delete
    def edge_delete(self, request: Request, tid: int) -> Response:
        data = validated(s.StepEdgeSerializer(data=request.data))
        templates.edge_delete(template_id=tid, parent_id=data["parent_id"], child_id=data["child_id"])
        return no_content()


class StepViewSet(DatabaseIdViewSet):
    """``/agent-templates/{tid}/steps``."""

    lookup_url_kwarg = "sid"

    @extend_schema(request=s.StepInputSerializer, responses={201: s.StepSerializer})
    def create(self, request: Request, tid: int) -> Response:
        fields = validated(s.StepInputSerializer(data=request.data))
        step = templates.step_create(template_id=tid, fields=fields)  # type: ignore[arg-type]
        return created(to_json(s.StepSerializer, step))

    @extend_schema(
        request=s.StepInputSerializer,
        responses=s.StepSerializer,
        summary="Partial update; read-only keys (ids, parent_ids, child_ids, timestamps) are ignored",
    )
    def partial_update(self, request: Request, tid: int, sid: int) -> Response:
        changes = validated(s.StepInputSerializer(data=request.data, partial=True))
        step = templates.step_update(template_id=tid, step_id=sid, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(s.StepSerializer, step))

    @extend_schema(responses={204: None}, summary="Delete the step and every edge touching it")
    def destroy(self, request: Request, tid: int, sid: int) -> Response:
        templates.step_delete(template_id=tid, step_id=sid)
        return no_content()


# --- Executions and step runs -------------------------------------------------------------------


class ExecutionViewSet(LandingActions, DatabaseIdViewSet):
    """``/projects/{pid}/executions``."""

    lookup_url_kwarg = "eid"

    @extend_schema(
        parameters=[s.ExecutionFilterSerializer], responses=s.ExecutionSerializer(many=True), summary="Newest first"
    )
    def list(self, request: Request, pid: int) -> Response:
        filters = validated(s.ExecutionFilterSerializer(data=request.query_params))
        return Response(to_json_list(s.ExecutionSerializer, selectors.execution_list(project_id=pid, **filters)))

    @extend_schema(
        request=s.ExecutionCreateSerializer,
        responses={201: s.ExecutionWithStepRunsSerializer},
        summary="Store an execution and its step runs; nothing is started",
    )
    def create(self, request: Request, pid: int) -> Response:
        data = validated(s.ExecutionCreateSerializer(data=request.data))
        execution = executions.execution_create(project_id=pid, **data)
        return created(to_json(s.ExecutionWithStepRunsSerializer, execution))

    @extend_schema(responses=s.ExecutionWithStepRunsSerializer)
    def retrieve(self, request: Request, pid: int, eid: int) -> Response:
        execution = selectors.execution_get(project_id=pid, execution_id=eid)
        return Response(to_json(s.ExecutionWithStepRunsSerializer, execution))

    @extend_schema(request=s.ExecutionInputSerializer, responses=s.ExecutionSerializer)
    def partial_update(self, request: Request, pid: int, eid: int) -> Response:
        changes = validated(s.ExecutionInputSerializer(data=request.data, partial=True))
        execution = executions.execution_update(project_id=pid, execution_id=eid, changes=changes)  # type: ignore[arg-type]
        return Response(to_json(s.ExecutionSerializer, execution))

    @extend_schema(request=None, responses=s.ExecutionSerializer, summary="Cancel; active step runs become skipped")
    @action(detail=True, methods=["post"], url_name="execution-cancel")
    def cancel(self, request: Request, pid: int, eid: int) -> Response:
        execution = executions.execution_cancel(project_id=pid, execution_id=eid)
        return Response(to_json(s.ExecutionSerializer, execution))

    @extend_schema(responses=s.AttachCommandSerializer, summary="A shell command that follows the execution live")
    @action(detail=True, methods=["get"], url_path="attach-command", url_name="execution-attach-command")
    def attach_command(self, request: Request, pid: int, eid: int) -> Response:
        command = selectors.execution_attach_command(project_id=pid, execution_id=eid)
        return Response(to_json(s.AttachCommandSerializer, command))

    @extend_schema(parameters=[s.LogQuerySerializer], responses=s.LogPageSerializer)
    @action(detail=True, methods=["get"], url_name="execution-log")
    def log(self, request: Request, pid: int, eid: int) -> Response:
        """The stored output, page by page."""
        query = validated(s.LogQuerySerializer(data=request.query_params))
        return Response(to_json(s.LogPageSerializer, selectors.log_page(project_id=pid, execution_id=eid, **query)))


class StepRunViewSet(DatabaseIdViewSet):
    """``/projects/{pid}/executions/{eid}/steps/{srid}``: the id is a step run's."""

    lookup_url_kwarg = "srid"

    @extend_schema(request=s.StepRunInputSerializer, responses=s.StepRunSerializer)
    def partial_update(self, request: Request, pid: int, eid: int, srid: int) -> Response:
        changes = validated(s.StepRunInputSerializer(data=request.data, partial=True))
        step_run = executions.step_run_update(
            project_id=pid,
            execution_id=eid,
            step_run_id=srid,
            changes=changes,  # type: ignore[arg-type]
        )
        return Response(to_json(s.StepRunSerializer, step_run))


# --- Launch -------------------------------------------------------------------------------------


class LaunchViewSet(DatabaseIdViewSet):
    """``/projects/{pid}/nodes/{nid}/preview`` and ``.../launch``: a template run on a node."""

    lookup_url_kwarg = "nid"

    @extend_schema(
        request=s.LaunchSerializer,
        responses=s.LaunchPreviewSerializer,
        summary="The prompts a launch would store; no side effects",
    )
    @action(detail=True, methods=["post"], url_name="launch-preview")
    def preview(self, request: Request, pid: int, nid: int) -> Response:
        data = validated(s.LaunchSerializer(data=request.data))
        preview = launches.launch_preview(
            project_id=pid, node_id=nid, template_id=data["template_id"], context=data["context"]
        )
        return Response(to_json(s.LaunchPreviewSerializer, preview))

    @extend_schema(
        request=s.LaunchSerializer,
        responses={201: s.ExecutionWithStepRunsSerializer},
        summary="Create an execution of the template on the node and queue it for the hub's runner",
    )
    @action(detail=True, methods=["post"], url_name="launch")
    def launch(self, request: Request, pid: int, nid: int) -> Response:
        data = validated(s.LaunchSerializer(data=request.data))
        execution = launches.launch(project_id=pid, node_id=nid, **data)
        return created(to_json(s.ExecutionWithStepRunsSerializer, execution))


class FlatViewSet(DatabaseIdViewSet):
    """The seed document's routes without the project in the path: ``GET /executions`` lists
    executions across projects, ``POST /launch`` names the project and node in its body. Both
    answer exactly what their per-project forms answer."""

    @extend_schema(
        parameters=[s.ExecutionIndexFilterSerializer],
        responses=s.ExecutionSerializer(many=True),
        summary="Executions of every project, newest first",
    )
    @action(detail=False, methods=["get"], url_path="executions", url_name="execution-index")
    def execution_index(self, request: Request) -> Response:
        filters = validated(s.ExecutionIndexFilterSerializer(data=request.query_params.dict()))
        return Response(to_json_list(s.ExecutionSerializer, selectors.execution_index(**filters)))

    @extend_schema(
        request=s.LaunchByBodySerializer,
        responses={201: s.ExecutionWithStepRunsSerializer},
        summary="Launch a template on a node named in the body (as POST /projects/{pid}/nodes/{nid}/launch)",
    )
    @action(detail=False, methods=["post"], url_path="launch", url_name="launch-by-body")
    def launch_by_body(self, request: Request) -> Response:
        data = validated(s.LaunchByBodySerializer(data=request.data))
        return created(to_json(s.ExecutionWithStepRunsSerializer, launches.launch(**data)))


# --- DAG runs -----------------------------------------------------------------------------------


class DagRunViewSet(DatabaseIdViewSet):
    """``/projects/{pid}/dag-runs``: runs of a project's whole DAG."""

    lookup_url_kwarg = "rid"

    @extend_schema(
        responses={200: s.DagRunSerializer(many=True), 404: ERR}, summary="The project's DAG runs, newest first"
    )
    def list(self, request: Request, pid: int) -> Response:
        return Response(to_json_list(s.DagRunSerializer, selectors.dag_run_list(project_id=pid)))

    @extend_schema(
        request=s.DagRunInputSerializer,
        responses={201: s.DagRunSerializer, 400: ERR, 404: ERR},
        summary="Run the nodes in dependency order, retrying failures; the runners take it from here",
    )
    def create(self, request: Request, pid: int) -> Response:
        data = validated(s.DagRunInputSerializer(data=request.data))
        return created(to_json(s.DagRunSerializer, dag_runs.dag_run_create(project_id=pid, **data)))

    @extend_schema(responses={200: s.DagRunSerializer, 404: ERR})
    def retrieve(self, request: Request, pid: int, rid: int) -> Response:
        return Response(to_json(s.DagRunSerializer, selectors.dag_run_get(project_id=pid, dag_run_id=rid)))

    @extend_schema(
        request=None,
        responses={200: s.DagRunSerializer, 400: ERR, 404: ERR},
        summary="Cancel; unfinished nodes are cancelled, agents stopped",
    )
    @action(detail=True, methods=["post"], url_name="dag-run-cancel")
    def cancel(self, request: Request, pid: int, rid: int) -> Response:
        return Response(to_json(s.DagRunSerializer, dag_runs.dag_run_cancel(project_id=pid, dag_run_id=rid)))
