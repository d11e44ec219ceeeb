"""The projects API's shapes: input validation, and one output serializer per resource that makes
the response body, describes it in ``/api/schema/`` and is the WebSocket event's payload (so
``node.created`` is byte-for-byte the node the POST answered). ``projects/tests/test_schema.py``
checks real responses against the schema.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orchestra_site.api.serializers import FastReadMixin, FastReadSerializer
from projects.fields import (
    HubDateTimeField,
    IdField,
    JSONObjectField,
    JSONObjectOutputField,
    RejectUnknownKeysMixin,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    UtcDateTimeField,
)
from projects.models import (
    TITLE_MAX,
    AgentType,
    DeliverableType,
    Node,
    NodeStatus,
    NodeType,
    Project,
    Run,
    RunStatus,
    Task,
)


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


@extend_schema_field(NodeMetadataInputSerializer)
class NodeMetadataInputField(serializers.Field):
    """The metadata object, validated whole even inside a PATCH (``partial=True`` would skip its
    defaults and its required keys): a PATCH replaces the metadata, it does not merge into it."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        serializer = NodeMetadataInputSerializer(data=data)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return dict(serializer.validated_data)


class DeliverableSchemaInputSerializer(RejectUnknownKeysMixin, serializers.Serializer):
    """One item of a node's ``expected_deliverables``: what it should produce."""

    type = serializers.ChoiceField(choices=DeliverableType.choices)
    name = StrictCharField(min_length=1, max_length=TITLE_MAX)
    # A declared field leaves the class (DRF's metaclass), so it never hides Field.required.
    required = StrictBooleanField(default=True)  # type: ignore[assignment]
    description = StrictCharField(allow_blank=True, default="")


@extend_schema_field(DeliverableSchemaInputSerializer(many=True))
class ExpectedDeliverablesInputField(serializers.Field):
    """The whole list, each item validated with its defaults even inside a PATCH (as the metadata)."""

    default_error_messages = {"not_a_list": 'Expected a list of items but got type "{input_type}".'}

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        serializer = DeliverableSchemaInputSerializer(data=data, many=True)
        if not serializer.is_valid():
            raise serializers.ValidationError(serializer.errors)
        return [dict(item) for item in serializer.validated_data]


class ProjectInputSerializer(serializers.Serializer):
    # A new project, or (partial=True) the keys a PATCH changes. workspace_path may be null only on
    # create (the hub picks the folder).

    name = _title()
    description = _text(default=None)
    workspace_path = StrictCharField(
        max_length=1024, allow_null=True, default=None, help_text="Absolute, inside ORCHESTRA_WORKSPACE_ROOTS."
    )
    worktree_by_default = StrictBooleanField(
        default=False, help_text="Each execution gets a git worktree and branch of its own, asked for or not."
    )

    def validate_workspace_path(self, value: str | None) -> str | None:
        if value is None and self.partial:
            raise serializers.ValidationError(self.fields["workspace_path"].error_messages["null"])
        return value


class NodeInputSerializer(serializers.Serializer):
    # A new node, or (partial=True) only the keys sent; there metadata: null and parent_ids: null
    # change nothing.

    title = _title()
    description = _text(default=None)
    status = serializers.ChoiceField(choices=NodeStatus.choices, default=NodeStatus.PENDING)
    agent_type = serializers.ChoiceField(choices=AgentType.choices, allow_null=True, default=None)
    prompt = _text(default=None)
    # DRF's metaclass takes declared fields off the class, so this never hides Serializer.context;
    # the stubs cannot know that.
    context = _text(default=None)  # type: ignore[assignment]
    metadata = NodeMetadataInputField(allow_null=True, default=None)
    # null stores NULL (answered as "task"); a PATCH without the key keeps it.
    node_type = serializers.ChoiceField(choices=NodeType.choices, allow_null=True, default=NodeType.TASK)
    # null or [] clears the list.
    expected_deliverables = ExpectedDeliverablesInputField(allow_null=True, default=list)
    position_x = StrictFloatField(default=0.0)
    position_y = StrictFloatField(default=0.0)
    parent_ids = serializers.ListField(child=IdField(), allow_null=True, default=list)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("expected_deliverables", ...) is None:
            attrs["expected_deliverables"] = []
        if not self.partial:
            if attrs["metadata"] is None:
                attrs["metadata"] = {"resources": [], "extra": {}}
            if attrs["parent_ids"] is None:
                attrs["parent_ids"] = []
        return attrs


class TaskInputSerializer(serializers.Serializer):
    # A new task, or (partial=True) the keys a PATCH changes.

    title = _title()
    description = _text(default=None)
    completed = serializers.BooleanField(default=False)
    priority = StrictIntegerField(default=0)
    due_date = HubDateTimeField(allow_null=True, default=None)
    project_id = IdField(allow_null=True, default=None)
    node_id = IdField(allow_null=True, default=None)


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


# --- Output: the response bodies, their schema and the event payloads --------------------------


class ResourceSerializer(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(allow_null=True)
    notes = serializers.CharField(allow_null=True)


class NodeMetadataSerializer(serializers.Serializer):
    # The stored metadata in the contract's shape, whatever an older row or the admin left there.

    resources = ResourceSerializer(many=True)
    extra = serializers.DictField()
    deliverables = serializers.CharField(required=False, help_text="Present only when it was set.")

    def get_attribute(self, instance: Any) -> Any:
        # A JSON null is normalized like any other odd value, not answered as null.
        value = super().get_attribute(instance)
        return {} if value is None else value

    def to_representation(self, instance: Any) -> dict[str, Any]:
        raw = instance if isinstance(instance, dict) else {}
        resources = [
            {
                "kind": str(item.get("kind", "")),
                "title": str(item.get("title", "")),
                "url": item.get("url"),
                "notes": item.get("notes"),
            }
            for item in raw.get("resources") or []
            if isinstance(item, dict)
        ]
        extra = raw.get("extra")
        metadata: dict[str, Any] = {"resources": resources, "extra": extra if isinstance(extra, dict) else {}}
        if isinstance(raw.get("deliverables"), str):
            metadata["deliverables"] = raw["deliverables"]
        return metadata


class DeliverableSchemaSerializer(serializers.Serializer):
    # One expected deliverable with all four keys, whatever an older row or the admin left there.

    type = serializers.ChoiceField(choices=DeliverableType.choices)
    name = serializers.CharField()
    required = serializers.BooleanField()  # type: ignore[assignment]  # as in the input serializer
    description = serializers.CharField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        raw = instance if isinstance(instance, dict) else {}
        description = raw.get("description")
        return {
            "type": str(raw.get("type", DeliverableType.CUSTOM)),
            "name": str(raw.get("name", "")),
            "required": raw.get("required", True) is not False,
            "description": description if isinstance(description, str) else "",
        }


class ExpectedDeliverablesField(serializers.ListField):
    """Always a list of whole DeliverableSchema objects, never null (odd stored values read as ``[]``)."""

    child = DeliverableSchemaSerializer()

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        return value if isinstance(value, list) else []

    def to_representation(self, data: Any) -> list[Any]:
        return [self.child.to_representation(item) for item in data if isinstance(item, dict)]


class NodeTypeField(serializers.ChoiceField):
    """The node's type; NULL in the database is answered as ``"task"``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=NodeType.choices, **kwargs)

    def get_attribute(self, instance: Any) -> Any:
        return super().get_attribute(instance) or NodeType.TASK


class HubModelSerializer(FastReadSerializer):
    # Read-only model serializers (so every field is required in the schema) with the contract's timestamps.

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UtcDateTimeField,
    }


class ProjectSerializer(HubModelSerializer):
    workspace_path = serializers.CharField(
        read_only=True, help_text="Where the project's agents work, on the hub machine."
    )

    class Meta:
        model = Project
        fields = ["id", "name", "description", "workspace_path", "worktree_by_default", "created_at", "updated_at"]
        read_only_fields = fields


class NodeSerializer(HubModelSerializer):
    # parent_ids is Node.parent_ids: set by the reads and writes that already know them, else one query.

    project_id = serializers.IntegerField(read_only=True)
    metadata = NodeMetadataSerializer(read_only=True)
    node_type = NodeTypeField(read_only=True)
    expected_deliverables = ExpectedDeliverablesField(read_only=True)
    parent_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = Node
        fields = [
            "id",
            "project_id",
            "title",
            "description",
            "status",
            "agent_type",
            "prompt",
            "context",
            "metadata",
            "node_type",
            "expected_deliverables",
            "position_x",
            "position_y",
            "parent_ids",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EdgeSerializer(FastReadMixin, serializers.Serializer):
    # Serializes projects.selectors.Edge (a parent link read as two ids, not a NodeEdge row).
    source_id = serializers.IntegerField(help_text="The parent node.")
    target_id = serializers.IntegerField(help_text="The child node.")


class GraphSerializer(serializers.Serializer):
    # Serializes projects.selectors.Graph: every node of a project and one edge per parent link.

    nodes = NodeSerializer(many=True)
    edges = EdgeSerializer(many=True)


class TaskSerializer(HubModelSerializer):
    project_id = serializers.IntegerField(allow_null=True, read_only=True)
    node_id = serializers.IntegerField(allow_null=True, read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "project_id",
            "node_id",
            "title",
            "description",
            "completed",
            "priority",
            "due_date",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RunSerializer(HubModelSerializer):
    project_id = serializers.IntegerField(read_only=True)
    node_id = serializers.IntegerField(read_only=True)
    metadata = JSONObjectOutputField(read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "project_id",
            "node_id",
            "agent_type",
            "prompt",
            "status",
            "output",
            "error",
            "metadata",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RunEventSerializer(HubModelSerializer):
    # The payload of run.created and run.updated: which run of which node, and its status.

    node_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Run
        fields = ["id", "node_id", "status"]
        read_only_fields = fields


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
    # A declared field leaves the class (DRF's metaclass), so it never hides Serializer.errors.
    errors = serializers.JSONField(  # type: ignore[assignment]
        required=False, help_text="The per-field errors of a validation failure."
    )
