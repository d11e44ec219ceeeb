"""``/projects/{pid}/executions/{eid}/diff|merge|push|pull-request|worktree``: review and land an
execution's work (mixed into ``agents.views.ExecutionViewSet``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents import landing_serializers as ls
from agents import serializers as s
from agents.services import diffs, landing, worktrees
from orchestra_site.api.serializers import to_json
from orchestra_site.api.viewsets import validated
from projects.serializers import ErrorSerializer

ERR = OpenApiResponse(ErrorSerializer, description="`{detail}` naming the field")
CONFLICT = OpenApiResponse(ls.MergeConflictSerializer, description="`{detail, conflicts?}`: nothing was changed")


class LandingActions:
    @extend_schema(
        parameters=[ls.DiffQuerySerializer],
        responses={200: ls.DiffSerializer, 400: ERR, 409: CONFLICT},
        summary="What the execution changed against the commit it started from, uncommitted work included",
    )
    @action(detail=True, methods=["get"], url_name="execution-diff")
    def diff(self, request: Request, pid: int, eid: int) -> Response:
        query = validated(ls.DiffQuerySerializer(data=request.query_params))
        return Response(diffs.execution_diff(project_id=pid, execution_id=eid, path=query.get("path")))

    @extend_schema(
        request=ls.MergeInputSerializer,
        responses={200: ls.MergeSerializer, 400: ERR, 409: CONFLICT},
        summary="Land the execution's branch on the branch it started from",
    )
    @action(detail=True, methods=["post"], url_name="execution-merge")
    def merge(self, request: Request, pid: int, eid: int) -> Response:
        data = validated(ls.MergeInputSerializer(data=request.data))
        return Response(landing.execution_merge(project_id=pid, execution_id=eid, **data))

    @extend_schema(
        request=ls.PushInputSerializer,
        responses={200: ls.PushSerializer, 400: ERR, 409: CONFLICT},
        summary="Push the execution's branch to a remote configured in the repository",
    )
    @action(detail=True, methods=["post"], url_name="execution-push")
    def push(self, request: Request, pid: int, eid: int) -> Response:
        data = validated(ls.PushInputSerializer(data=request.data))
        return Response(landing.execution_push(project_id=pid, execution_id=eid, remote=data["remote"]))

    @extend_schema(
        request=ls.PullRequestInputSerializer,
        responses={201: ls.PullRequestSerializer, 400: ERR, 409: CONFLICT},
        summary="Push the branch and open a GitHub pull request with the operator's gh",
    )
    @action(detail=True, methods=["post"], url_path="pull-request", url_name="execution-pull-request")
    def pull_request(self, request: Request, pid: int, eid: int) -> Response:
        data = validated(ls.PullRequestInputSerializer(data=request.data))
        answer = landing.execution_pull_request(project_id=pid, execution_id=eid, **data)
        return Response(answer, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: s.ExecutionSerializer, 409: CONFLICT},
        summary="Remove the execution's worktree (its work is committed first; the branch stays)",
    )
    @action(detail=True, methods=["delete"], url_name="execution-worktree")
    def worktree(self, request: Request, pid: int, eid: int) -> Response:
        execution = worktrees.execution_worktree_remove(project_id=pid, execution_id=eid)
        return Response(to_json(s.ExecutionSerializer, execution))
