"""``GET /projects/{pid}/executions/{eid}/log?after=<seq>&limit=<n>``: the stored output, page by page."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.selectors import execution_get
from agents.selectors_logs import PAGE_SIZE, log_page


class LogQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0, max_value=2**62)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=PAGE_SIZE)


class LogEntrySerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    kind = serializers.CharField()
    step_run_id = serializers.IntegerField(allow_null=True)
    data = serializers.DictField(help_text="The terminal frame as it was sent live.")
    created_at = serializers.DateTimeField()


class LogPageSerializer(serializers.Serializer):
    execution_id = serializers.IntegerField()
    status = serializers.CharField()
    entries = LogEntrySerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as `after` to read the next page.")
    has_more = serializers.BooleanField()


class ExecutionLogView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("after", int, description="Return entries with a larger seq (default 0)."),
            OpenApiParameter("limit", int, description="At most this many entries (1 to 1000, default 500)."),
        ],
        responses=LogPageSerializer,
    )
    def get(self, request: Request, pid: int, eid: int) -> Response:
        query = LogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        execution = execution_get(project_id=pid, execution_id=eid)
        return Response(log_page(execution=execution, **query.validated_data))
