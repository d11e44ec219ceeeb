"""Routes without the project in the path, as the hub's seed document lists them.

``GET /executions`` lists executions across projects; ``POST /launch`` takes the project and the
node in its body. Both answer exactly what their per-project forms answer.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import selectors
from agents import serializers as s
from agents.services import launch
from agents.views import validated


class ExecutionIndexView(APIView):
    @extend_schema(
        parameters=[s.ExecutionIndexQuerySerializer],
        responses=s.ExecutionSerializer(many=True),
        summary="Executions of every project, newest first",
    )
    def get(self, request: Request) -> Response:
        filters = validated(s.ExecutionIndexQuerySerializer, request.query_params.dict())
        found = selectors.execution_index(**filters)
        return Response([selectors.execution_data(execution) for execution in found])


class LaunchByBodyView(APIView):
    @extend_schema(
        request=s.LaunchByBodyRequestSerializer,
        responses={201: s.ExecutionWithStepRunsSerializer},
        summary="Launch a template on a node named in the body (as POST /projects/{pid}/nodes/{nid}/launch)",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.LaunchByBodyRequestSerializer, request.data)
        execution = launch.launch(
            project_id=data["project_id"],
            node_id=data["node_id"],
            template_id=data["template_id"],
            context=data["context"],
            create_worktree=data["create_worktree"],
        )
        return Response(selectors.execution_with_step_runs_data(execution), status=status.HTTP_201_CREATED)
