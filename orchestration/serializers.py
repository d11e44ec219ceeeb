"""Shapes of the orchestration API, for the OpenAPI schema (input is validated by the services)."""

from __future__ import annotations

from rest_framework import serializers


class WorkspaceObjectSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The workspace's absolute path.")
    workspace_id = serializers.CharField(help_text="The same path, under the key the extension reads.")
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
    desired = serializers.IntegerField(required=False, min_value=0)
    running = serializers.IntegerField(required=False, min_value=0)
