"""``/projects/{pid}/executions/{eid}/messages``: an execution's conversation, and the next message."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from agents import selectors
from agents import serializers as s
from agents.conversation import conversation
from agents.services.lifecycle import execution_message_send
from agents.views import created
from orchestra_site.api.serializers import to_json, to_json_list
from orchestra_site.api.viewsets import DatabaseIdViewSet, validated
from projects.serializers import ErrorSerializer

ERR = OpenApiResponse(ErrorSerializer, description="`{detail}` saying why")


class ExecutionMessageViewSet(DatabaseIdViewSet):
    @extend_schema(
        responses={200: s.ConversationEntrySerializer(many=True), 404: ERR},
        summary="The conversation: each prompt and each final answer, in order (as in the execution's detail)",
    )
    def list(self, request: Request, pid: int, eid: int) -> Response:
        execution = selectors.execution_get(project_id=pid, execution_id=eid)
        return Response(to_json_list(s.ConversationEntrySerializer, conversation(list(execution.step_runs.all()))))

    @extend_schema(
        request=s.MessageInputSerializer,
        responses={201: s.StepRunSerializer, 400: ERR, 404: ERR, 409: ERR},
        summary="Send a follow-up: the agent continues its session in the same folder; the new step run",
        description=(
            "The execution runs again (pending, then running) under the same rules as its first run. "
            "409 while it runs, when it was discarded, or when no agent session was recorded to continue."
        ),
    )
    def create(self, request: Request, pid: int, eid: int) -> Response:
        data = validated(s.MessageInputSerializer(data=request.data))
        step_run = execution_message_send(project_id=pid, execution_id=eid, prompt=data["prompt"])
        return created(to_json(s.StepRunSerializer, step_run))
