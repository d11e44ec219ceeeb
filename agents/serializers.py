"""Request validation and response shapes of the agents API.

Input serializers turn a JSON body into typed values for the services: unknown keys are ignored,
a missing, null, wrong-typed or oversized value is a 400 whose string ``detail`` names the field
(``orchestra_site.api.errors``). Strings are never coerced from numbers, booleans are only ``true`` or
``false``. The response serializers only describe the selectors' dicts for the OpenAPI schema.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

from agents.models import AgentType, DagNodeStatus, DagRunStatus, ExecutionStatus, OutputFormat, StepRunStatus

MAX_ID = 2**63 - 1
MAX_TEXT = 1_000_000
INT32 = 2**31 - 1
MAX_EXECUTIONS_LISTED = 1000


class StrictCharField(serializers.CharField):
    """A JSON string only (no numbers turned into text), kept exactly as sent: no trimming."""

    default_error_messages = {"invalid": "Must be a string."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no database can store it
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class FiniteFloatField(serializers.FloatField):
    default_error_messages = {"invalid": "A finite number is required."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, (int, float)) or not math.isfinite(data):
            self.fail("invalid")
        return float(data)


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """Any 64-bit integer: an id that names no row is the service's semantic 400/404, not a type error."""
    return serializers.IntegerField(min_value=-MAX_ID - 1, max_value=MAX_ID, **kwargs)


def object_field(**kwargs: Any) -> serializers.DictField:
    return serializers.DictField(child=serializers.JSONField(), **kwargs)


# --- Templates, steps, edges ------------------------------------------------------------------


class StepWriteSerializer(serializers.Serializer):
    """AgentStepCreate. With ``partial=True`` it validates a PATCH: every key optional."""

    name = StrictCharField(max_length=255)
    agent_type = serializers.ChoiceField(choices=AgentType.choices)
    prompt_template = StrictCharField(max_length=MAX_TEXT)
    output_format = serializers.ChoiceField(choices=OutputFormat.choices, required=False)
    position_x = FiniteFloatField(required=False)
    position_y = FiniteFloatField(required=False)
    metadata = object_field(required=False, allow_null=True)
    model_version = StrictCharField(max_length=255, required=False, allow_null=True)
    thinking_budget = serializers.IntegerField(min_value=0, max_value=INT32, required=False, allow_null=True)
    reasoning_level = StrictCharField(max_length=64, required=False, allow_null=True)


class IndexEdgeSerializer(serializers.Serializer):
    """An edge inside POST /agent-templates: zero-based indices into ``steps`` (range checked by the service)."""

    parent_id = id_field()
    child_id = id_field()


class TemplateCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=255)
    description = StrictCharField(max_length=MAX_TEXT, required=False, allow_null=True)
    metadata = object_field(required=False, allow_null=True)
    steps = StepWriteSerializer(many=True, required=False)
    edges = IndexEdgeSerializer(many=True, required=False)


class TemplateUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=255, required=False)
    description = StrictCharField(max_length=MAX_TEXT, required=False, allow_null=True)
    metadata = object_field(required=False, allow_null=True, help_text="Replaces the stored object; null means {}.")


class StepEdgeSerializer(serializers.Serializer):
    """StepEdge: real step ids. The body of POST and DELETE .../edges, and POST's answer."""

    parent_id = id_field()
    child_id = id_field()


class TemplateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StepSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    template_id = serializers.IntegerField()
    name = serializers.CharField()
    agent_type = serializers.ChoiceField(choices=AgentType.choices)
    prompt_template = serializers.CharField()
    output_format = serializers.ChoiceField(choices=OutputFormat.choices)
    position_x = serializers.FloatField()
    position_y = serializers.FloatField()
    metadata = serializers.DictField()
    model_version = serializers.CharField(allow_null=True)
    thinking_budget = serializers.IntegerField(allow_null=True)
    reasoning_level = serializers.CharField(allow_null=True)
    parent_ids = serializers.ListField(child=serializers.IntegerField())
    child_ids = serializers.ListField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TemplateWithStepsSerializer(TemplateSerializer):
    steps = StepSerializer(many=True)
    edges = StepEdgeSerializer(many=True)


# --- Executions and step runs -----------------------------------------------------------------


class ExecutionListQuerySerializer(serializers.Serializer):
    node_id = id_field(required=False)
    template_id = id_field(required=False)


class ExecutionCreateSerializer(serializers.Serializer):
    node_id = id_field(required=False, allow_null=True)
    template_id = id_field(required=False, allow_null=True)
    create_worktree = StrictBooleanField(required=False, default=False)
    context = object_field(required=False, default=dict)


class ExecutionUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ExecutionStatus.choices, required=False)
    tmux_session = StrictCharField(max_length=255, required=False, allow_null=True)
    worktree_path = StrictCharField(max_length=1024, required=False, allow_null=True)
    worktree_branch = StrictCharField(max_length=255, required=False, allow_null=True)
    metadata = object_field(required=False, allow_null=True, help_text="Replaces the stored object; null means {}.")


class StepRunUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=StepRunStatus.choices, required=False)
    output = StrictCharField(max_length=MAX_TEXT * 10, required=False, allow_null=True)
    error = StrictCharField(max_length=MAX_TEXT, required=False, allow_null=True)
    metadata = object_field(required=False, allow_null=True, help_text="Replaces the stored object; null means {}.")


class LaunchRequestSerializer(serializers.Serializer):
    template_id = id_field()
    context = object_field(required=False, default=dict)
    create_worktree = StrictBooleanField(required=False, default=False)


class LaunchByBodyRequestSerializer(LaunchRequestSerializer):
    """``POST /launch``: the launch request plus the project and node it runs on."""

    project_id = id_field()
    node_id = id_field()


class ExecutionIndexQuerySerializer(serializers.Serializer):
    project_id = id_field(required=False)
    status = serializers.ChoiceField(choices=ExecutionStatus.choices, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_EXECUTIONS_LISTED, required=False)


class StepRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    execution_id = serializers.IntegerField()
    step_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField(help_text="The step's name when the execution was created.")
    agent_type = serializers.ChoiceField(choices=AgentType.choices)
    prompt = serializers.CharField(help_text="The step's prompt template resolved at creation.")
    status = serializers.ChoiceField(choices=StepRunStatus.choices)
    output = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ExecutionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    node_id = serializers.IntegerField(allow_null=True)
    template_id = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    tmux_session = serializers.CharField(allow_null=True)
    worktree_path = serializers.CharField(allow_null=True)
    worktree_branch = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    error = serializers.CharField(allow_null=True, help_text="Why the hub's runner failed the execution, if it did.")
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ExecutionWithStepRunsSerializer(ExecutionSerializer):
    step_runs = StepRunSerializer(many=True)


class AttachCommandSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    command = serializers.CharField()
    note = serializers.CharField(required=False)


class ResolvedPromptSerializer(serializers.Serializer):
    step_id = serializers.IntegerField()
    step_name = serializers.CharField()
    agent_type = serializers.ChoiceField(choices=AgentType.choices)
    prompt_template = serializers.CharField()
    resolved_prompt = serializers.CharField()


class LaunchPreviewSerializer(serializers.Serializer):
    template_id = serializers.IntegerField()
    context = serializers.DictField(help_text="The merged context the prompts were resolved with.")
    resolved_prompts = ResolvedPromptSerializer(many=True)


# --- DAG runs -----------------------------------------------------------------------------------


class DagRunCreateSerializer(serializers.Serializer):
    node_ids = serializers.ListField(
        child=id_field(),
        required=False,
        allow_null=True,
        max_length=10_000,
        help_text="Default: every node with an agent_type that is not completed; others count as done.",
    )
    template_id = id_field(required=False, allow_null=True, help_text="Default: each node's own agent and prompt.")
    max_retries = serializers.IntegerField(min_value=0, max_value=5, required=False, default=1)
    retry_backoff_seconds = serializers.IntegerField(
        min_value=0, max_value=86_400, required=False, default=10, help_text="Doubles with each failed attempt."
    )
    create_worktree = StrictBooleanField(required=False, default=False)


class DagRunNodeSerializer(serializers.Serializer):
    node_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DagNodeStatus.choices)
    attempts = serializers.IntegerField(help_text="Attempts that counted (an interrupted runner gives its back).")
    execution_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Oldest first.")
    error = serializers.CharField(allow_null=True)


class DagRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DagRunStatus.choices)
    nodes = DagRunNodeSerializer(many=True)
    max_retries = serializers.IntegerField()
    retry_backoff_seconds = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
