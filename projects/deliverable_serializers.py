"""The deliverables and hooks API's shapes: input validation, and one output serializer per shape
(the response, its schema and, for ``deliverable.created``, the event payload)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from projects.fields import (
    IdField,
    RejectUnknownKeysMixin,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from projects.hook_checks import MAX_RULES, RULE_MAX_LENGTH
from projects.models import (
    HOOK_MAX_RETRIES,
    TITLE_MAX,
    Deliverable,
    DeliverableStatus,
    DeliverableType,
    HookAction,
    HookNode,
    HookTrigger,
)
from projects.serializers import HubModelSerializer

# --- Input ------------------------------------------------------------------------------------


class DeliverableCreateSerializer(RejectUnknownKeysMixin, serializers.Serializer):
    # node_id may be sent (the desktop's DeliverableCreate has it); the path's node wins.
    ignored_keys = frozenset({"node_id"})

    execution_id = IdField(allow_null=True, default=None)
    type = serializers.ChoiceField(choices=DeliverableType.choices)
    name = StrictCharField(min_length=1, max_length=TITLE_MAX)
    content = StrictCharField(allow_blank=True, default="")
    status = serializers.ChoiceField(choices=DeliverableStatus.choices, default=DeliverableStatus.PENDING)


class DeliverableUpdateSerializer(RejectUnknownKeysMixin, serializers.Serializer):
    # null or a missing key leaves the field as it is; validation_errors replaces the whole list.

    content = StrictCharField(allow_blank=True, allow_null=True, required=False)
    status = serializers.ChoiceField(choices=DeliverableStatus.choices, allow_null=True, required=False)
    validation_errors = serializers.ListField(child=StrictCharField(allow_blank=True), allow_null=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in attrs.items() if value is not None}


class DeliverableFilterSerializer(serializers.Serializer):
    status = StrictCharField(allow_blank=True, required=False, help_text="Exact status; empty means all.")


class HookInputSerializer(RejectUnknownKeysMixin, serializers.Serializer):
    # A new hook configuration, or (partial=True) the keys a PATCH changes; there null keeps a field.
    ignored_keys = frozenset({"node_id"})

    name = StrictCharField(min_length=1, max_length=TITLE_MAX, default="Validation Hook")
    trigger = serializers.ChoiceField(choices=HookTrigger.choices, default=HookTrigger.PHASE_END)
    action = serializers.ChoiceField(choices=HookAction.choices, default=HookAction.VALIDATE)
    required_deliverables = serializers.ListField(
        child=StrictCharField(min_length=1, max_length=TITLE_MAX), max_length=MAX_RULES, default=list
    )
    validation_rules = serializers.DictField(
        child=StrictCharField(allow_blank=True, max_length=RULE_MAX_LENGTH),
        default=dict,
        help_text="Deliverable name -> regular expression its content must match (checked when saved).",
    )
    requires_human_approval = StrictBooleanField(default=False)
    max_retries = StrictIntegerField(min_value=0, max_value=HOOK_MAX_RETRIES, default=1)

    def validate_validation_rules(self, rules: dict[str, str] | None) -> dict[str, str] | None:
        if rules is None:
            return rules
        if len(rules) > MAX_RULES:
            raise serializers.ValidationError(f"Ensure this field has no more than {MAX_RULES} rules.")
        for name in rules:
            if not name or len(name) > TITLE_MAX:
                raise serializers.ValidationError(f"Each name must have 1 to {TITLE_MAX} characters.")
        return rules

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.partial:
            for field in self.fields.values():
                field.allow_null = True

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in attrs.items() if value is not None}


# --- Output -----------------------------------------------------------------------------------


class DeliverableSerializer(HubModelSerializer):
    node_id = serializers.IntegerField(read_only=True)
    execution_id = serializers.IntegerField(allow_null=True, read_only=True)
    validation_errors = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Deliverable
        fields = [
            "id",
            "node_id",
            "execution_id",
            "type",
            "name",
            "content",
            "status",
            "validation_errors",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DeliverableCreatedEventSerializer(HubModelSerializer):
    # The payload of deliverable.created: which output of which node and run.

    node_id = serializers.IntegerField(read_only=True)
    execution_id = serializers.IntegerField(allow_null=True, read_only=True)
    deliverable_id = serializers.IntegerField(source="id", read_only=True)

    class Meta:
        model = Deliverable
        fields = ["node_id", "execution_id", "deliverable_id", "type", "name"]
        read_only_fields = fields


class HookNodeSerializer(HubModelSerializer):
    node_id = serializers.IntegerField(read_only=True)
    required_deliverables = serializers.ListField(child=serializers.CharField(), read_only=True)
    validation_rules = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = HookNode
        fields = [
            "id",
            "node_id",
            "name",
            "trigger",
            "action",
            "required_deliverables",
            "validation_rules",
            "requires_human_approval",
            "max_retries",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class HookResultSerializer(serializers.Serializer):
    # Serializes projects.hooks.HookResult.

    status = serializers.ChoiceField(choices=["passed", "failed", "awaiting_approval"])
    message = serializers.CharField()
    validation_errors = serializers.ListField(child=serializers.CharField())
    passed_deliverables = serializers.ListField(child=serializers.CharField())
    failed_deliverables = serializers.ListField(child=serializers.CharField())


class DeletedSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='Always "deleted".')
