"""The orchestration API's shapes: one serializer per shape, for the response bodies, the OpenAPI
schema and the event payloads alike.

They read ``WorkspaceState`` / ``GlobalState`` (what the services return) or ``Workspace`` rows.
Every desired change serializes a response and two events, so the hot paths use the instances
built once below (``to_representation`` keeps no state) instead of building fields per call.
Input is validated by the services (``validate_count``), which name the field.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class WorkspaceObjectSerializer(serializers.Serializer):
    # The contract's workspace object: the id under both keys the clients read.
    id = serializers.CharField(source="path", help_text="The workspace's absolute path.")
    workspace_id = serializers.CharField(source="path", help_text="The same path, under the key the extension reads.")
    running = serializers.IntegerField(min_value=0)
    desired = serializers.IntegerField(min_value=0)


class GlobalObjectSerializer(serializers.Serializer):
    running = serializers.IntegerField(min_value=0)
    desired = serializers.IntegerField(min_value=0)


# "global" is a Python keyword, so this serializer is built with type() to declare that field.
WorkspaceResponseSerializer = type(
    "WorkspaceResponseSerializer",
    (serializers.Serializer,),
    {"workspace": WorkspaceObjectSerializer(), "global": GlobalObjectSerializer()},
)


class OrchestrationUpdateSerializer(serializers.Serializer):
    # The body of a PUT, for the schema: which key is read depends on the route's suffix.
    desired = serializers.IntegerField(required=False, min_value=0)
    running = serializers.IntegerField(required=False, min_value=0)


class GlobalEventSerializer(GlobalObjectSerializer):
    """``orchestration.global``: the totals and the hub-wide version they were taken at."""

    version = serializers.IntegerField(min_value=0)


class WorkspaceEventSerializer(serializers.Serializer):
    """``orchestration.workspace``."""

    workspaceId = serializers.CharField(source="path")  # the key the clients read
    workspace_id = serializers.CharField(source="path", help_text="The same id, under the key NestJS-era clients read.")
    running = serializers.IntegerField(min_value=0)
    desired = serializers.IntegerField(min_value=0)
    version = serializers.IntegerField(min_value=0)


WORKSPACE_RESPONSE = WorkspaceResponseSerializer()
WORKSPACE = WorkspaceObjectSerializer()
GLOBAL = GlobalObjectSerializer()
GLOBAL_EVENT = GlobalEventSerializer()
WORKSPACE_EVENT = WorkspaceEventSerializer()


def workspace_response(workspace: Any, totals: Any) -> dict[str, Any]:
    """``{"workspace": ..., "global": ...}``, the answer of every workspace route."""
    return WORKSPACE_RESPONSE.to_representation({"workspace": workspace, "global": totals})
