"""``/projects/{pid}/nodes/{nid}/launch-pipeline``, ``…/synthesis``, ``…/feedback`` and
``/projects/{pid}/nodes/needs-review``: the desktop app's Run → Start Workflow and its review.

The node ids are digits only (``DB_ID``), so ``nodes/needs-review`` never reaches the nodes
router's ``nodes/{nid}`` route.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents import pipeline_serializers as s
from agents.services.pipelines import review
from orchestra_site.api.viewsets import DatabaseIdViewSet, validated
from projects.serializers import ErrorSerializer

ERR = OpenApiResponse(ErrorSerializer, description="`{detail}` naming the field or node")


class PipelineViewSet(DatabaseIdViewSet):
    lookup_url_kwarg = "nid"

    @extend_schema(
        request=s.PipelineLaunchSerializer,
        responses={201: s.PipelineLaunchResponseSerializer, 400: ERR, 404: ERR},
        summary="Start the research → review → implementation pipeline on the node",
    )
    @action(detail=True, methods=["post"], url_path="launch-pipeline", url_name="launch-pipeline")
    def launch_pipeline(self, request: Request, pid: int, nid: int) -> Response:
        data = validated(s.PipelineLaunchSerializer(data=request.data or {}))
        execution = review.pipeline_launch(project_id=pid, node_id=nid, create_worktree=data["create_worktree"])
        name = execution.metadata["pipeline_name"]
        title = execution.node.title if execution.node else ""
        body = {
            "execution_id": execution.pk,
            "node_id": nid,
            "status": "started",
            "message": f"Multi-agent pipeline '{name}' started for node '{title}'",
        }
        return Response(s.PipelineLaunchResponseSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={200: s.SynthesisQuestionsSerializer, 404: ERR},
        summary="The synthesis's agreements, conflicts, questions and final plan",
    )
    @action(detail=True, methods=["get"], url_path="synthesis", url_name="pipeline-synthesis")
    def synthesis(self, request: Request, pid: int, nid: int) -> Response:
        data = review.synthesis_get(project_id=pid, node_id=nid)
        return Response(s.SynthesisQuestionsSerializer(data).data)

    @extend_schema(
        request=s.FeedbackSerializer,
        responses={200: s.FeedbackResponseSerializer, 400: ERR, 404: ERR},
        summary="Answer the review: approve (the implementation starts) or reject (the run is cancelled)",
    )
    @action(detail=True, methods=["post"], url_path="feedback", url_name="pipeline-feedback")
    def feedback(self, request: Request, pid: int, nid: int) -> Response:
        data = validated(s.FeedbackSerializer(data=request.data or {}))
        result = review.pipeline_feedback(project_id=pid, node_id=nid, **data)
        return Response(s.FeedbackResponseSerializer(result).data)

    @extend_schema(
        responses={200: s.SynthesisQuestionsSerializer(many=True), 404: ERR},
        summary="The project's nodes waiting for review, by id",
    )
    @action(detail=False, methods=["get"], url_path="needs-review", url_name="pipeline-needs-review")
    def needs_review(self, request: Request, pid: int) -> Response:
        data = review.needs_review_list(project_id=pid)
        return Response(s.SynthesisQuestionsSerializer(data, many=True).data)
