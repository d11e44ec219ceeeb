"""Input validation and the OpenAPI shapes of the projects API (to).

Responses are built by ``projects.selectors`` (the same dicts go out as WebSocket events); the
output serializers here describe them for ``/api/schema/`` and are checked against real
responses by ``projects/tests/test_schema.py``.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from projects.fields import (
    HubDateTimeField,
    IdField,
    JSONObjectField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
)
from projects.models import TITLE_MAX, AgentType, NodeStatus, RunStatus


def _text(**kwargs: Any) -> StrictCharField:
    """An optional free-text column: null clears it, "" is kept."""
    return StrictCharField(allow_null=True, allow_blank=True, **kwargs)


def _title(**kwargs: Any) -> StrictCharField:
    return StrictCharField(min_length=1, max_length=TITLE_MAX, **kwargs)


# --- Input ------------------------------------------------------------------------------------


class ResourceInputSerializer(serializers.Serializer):
    kind = StrictCharField(allow_blank=True)
    title = StrictCharField(allow_blank=True)
    url = _text(default=None)
    notes = _text(default=None)


class NodeMetadataInputSerializer(serializers.Serializer):
    """Unknown keys are dropped; ``deliverables`` is kept."""

    resources = ResourceInputSerializer(many=True, default=list)
    extra = JSONObjectField(default=dict)
    deliverables = _text(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("deliverables", ...) is None:
            del attrs["deliverables"]
        return {**attrs, "resources": [dict(resource) for resource in attrs["resources"]]}


class ProjectCreateSerializer(serializers.Serializer):
    name = _title()
    description = _text(default=None)
    workspace_path = StrictCharField(
        max_length=1024, allow_null=True, default=None, help_text="Absolute, inside ORCHESTRA_WORKSPACE_ROOTS."
    )


class ProjectUpdateSerializer(serializers.Serializer):
    name = _title(required=False)
    description = _text(required=False)
    workspace_path = StrictCharField(max_length=1024, required=False)


class NodeCreateSerializer(serializers.Serializer):
    title = _title()
    description = _text(default=None)
    status = serializers.ChoiceField(choices=NodeStatus.choices, default=NodeStatus.PENDING)
    agent_type = serializers.ChoiceField(choices=AgentType.choices, allow_null=True, default=None)
    prompt = _text(default=None)
    context = _text(default=None)
    metadata = NodeMetadataInputSerializer(allow_null=True, default=None)
    position_x = StrictFloatField(default=0.0)
    position_y = StrictFloatField(default=0.0)
    parent_ids = serializers.ListField(child=IdField(), allow_null=True, default=list)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["metadata"] is None:
            attrs["metadata"] = {"resources": [], "extra": {}}
        if attrs["parent_ids"] is None:
            attrs["parent_ids"] = []
        return attrs


class NodeUpdateSerializer(serializers.Serializer):
    """Only the keys sent; ``metadata: null`` and ``parent_ids: null`` change nothing."""

    title = _title(required=False)
    description = _text(required=False)
    status = serializers.ChoiceField(choices=NodeStatus.choices, required=False)
    agent_type = serializers.ChoiceField(choices=AgentType.choices, allow_null=True, required=False)
    prompt = _text(required=False)
    context = _text(required=False)
    metadata = NodeMetadataInputSerializer(allow_null=True, required=False)
    position_x = StrictFloatField(required=False)
    position_y = StrictFloatField(required=False)
    parent_ids = serializers.ListField(child=IdField(), allow_null=True, required=False)


class TaskCreateSerializer(serializers.Serializer):
    title = _title()
    description = _text(default=None)
    completed = serializers.BooleanField(default=False)
    priority = StrictIntegerField(default=0)
    due_date = HubDateTimeField(allow_null=True, default=None)
    project_id = IdField(allow_null=True, default=None)
    node_id = IdField(allow_null=True, default=None)


class TaskUpdateSerializer(serializers.Serializer):
    title = _title(required=False)
    description = _text(required=False)
    completed = serializers.BooleanField(required=False)
    priority = StrictIntegerField(required=False)
    due_date = HubDateTimeField(allow_null=True, required=False)
    project_id = IdField(allow_null=True, required=False)
    node_id = IdField(allow_null=True, required=False)


class TaskFilterSerializer(serializers.Serializer):
    project_id = IdField(required=False)
    node_id = IdField(required=False)
    completed = serializers.BooleanField(required=False)


class RunCreateSerializer(serializers.Serializer):
    node_id = IdField()
    agent_type = serializers.ChoiceField(choices=AgentType.choices)
    prompt = StrictCharField(allow_blank=True)
    status = serializers.ChoiceField(choices=RunStatus.choices, default=RunStatus.QUEUED)


class RunUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    output = _text(required=False)
    error = _text(required=False)
    metadata = JSONObjectField(allow_null=True, required=False)


class RunFilterSerializer(serializers.Serializer):
    node_id = IdField(required=False)


class PlanRequestSerializer(serializers.Serializer):
    prompt = StrictCharField(allow_blank=True)
    resources = ResourceInputSerializer(many=True, allow_null=True, required=False)


# --- Output (the shapes ``projects.selectors`` builds) -----------------------------------------


class ResourceSerializer(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    notes = serializers.CharField(allow_null=True)


class NodeMetadataSerializer(serializers.Serializer):
    resources = ResourceSerializer(many=True)
    extra = serializers.DictField()
    deliverables = serializers.CharField(required=False, help_text="Present only when it was set.")


class ProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    workspace_path = serializers.CharField(help_text="Where the project's agents work, on the hub machine.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NodeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=NodeStatus.choices)
    agent_type = serializers.ChoiceField(choices=AgentType.choices, allow_null=True)
    prompt = serializers.CharField(allow_null=True)
    context = serializers.CharField(allow_null=True)
    metadata = NodeMetadataSerializer()
    position_x = serializers.FloatField()
    position_y = serializers.FloatField()
    parent_ids = serializers.ListField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EdgeSerializer(serializers.Serializer):
    source_id = serializers.IntegerField(help_text="The parent node.")
    target_id = serializers.IntegerField(help_text="The child node.")


class GraphSerializer(serializers.Serializer):
    nodes = NodeSerializer(many=True)
    edges = EdgeSerializer(many=True)


class TaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField(allow_null=True)
    node_id = serializers.IntegerField(allow_null=True)
    title = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    completed = serializers.BooleanField()
    priority = serializers.IntegerField()
    due_date = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    node_id = serializers.IntegerField()
    agent_type = serializers.ChoiceField(choices=AgentType.choices)
    prompt = serializers.CharField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    output = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NodeDraftSerializer(serializers.Serializer):
    title = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=NodeStatus.choices)
    position_x = serializers.FloatField()
    position_y = serializers.FloatField()


class PlanEdgeSerializer(serializers.Serializer):
    source_index = serializers.IntegerField(min_value=0)
    target_index = serializers.IntegerField(min_value=0)


class PlanSerializer(serializers.Serializer):
    nodes = NodeDraftSerializer(many=True)
    edges = PlanEdgeSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="A readable message; for a validation error it names the field.")
    message = serializers.CharField(help_text="The same text as `detail`, for clients that read `message`.")
    errors = serializers.JSONField(required=False, help_text="The per-field errors of a validation failure.")
