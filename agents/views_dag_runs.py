"""Runs of a project's whole DAG: ``/projects/{pid}/dag-runs`` (thin views over the services)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors_dag_runs as selectors
from agents import serializers as s
from agents.services import dag_runs
from agents.views import validated
from projects.serializers import ErrorSerializer

ERR = OpenApiResponse(ErrorSerializer, description="`{detail}` naming the field or node")


class DagRunListView(APIView):
    @extend_schema(
        responses={200: s.DagRunSerializer(many=True), 404: ERR}, summary="The project's DAG runs, newest first"
    )
    def get(self, request: Request, pid: int) -> Response:
        return Response(selectors.dag_runs_data(selectors.dag_run_list(project_id=pid)))

    @extend_schema(
        request=s.DagRunCreateSerializer,
        responses={201: s.DagRunSerializer, 400: ERR, 404: ERR},
        summary="Run the nodes in dependency order, retrying failures; the runners take it from here",
    )
    def post(self, request: Request, pid: int) -> Response:
        data = validated(s.DagRunCreateSerializer, request.data)
        dag_run = dag_runs.dag_run_create(project_id=pid, **data)
        return Response(selectors.dag_run_data(dag_run), status=status.HTTP_201_CREATED)


class DagRunDetailView(APIView):
    @extend_schema(responses={200: s.DagRunSerializer, 404: ERR})
    def get(self, request: Request, pid: int, rid: int) -> Response:
        return Response(selectors.dag_run_data(selectors.dag_run_get(project_id=pid, dag_run_id=rid)))


class DagRunCancelView(APIView):
    @extend_schema(
        request=None,
        responses={200: s.DagRunSerializer, 400: ERR, 404: ERR},
        summary="Cancel; unfinished nodes are cancelled, agents stopped",
    )
    def post(self, request: Request, pid: int, rid: int) -> Response:
        dag_run = dag_runs.dag_run_cancel(project_id=pid, dag_run_id=rid)
        return Response(selectors.dag_run_data(dag_run))
