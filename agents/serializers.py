"""The agents API's shapes: one serializer per resource, for the answer, the OpenAPI schema and the
socket events alike, and one input serializer per request body (``partial=True`` for a PATCH).

Input serializers ignore unknown keys; a missing, null, wrong-typed or oversized value is a 400
whose string ``detail`` names the field (``orchestra_site.api.errors``). Every output field is
always present, ``null`` when it has no value.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Manager, prefetch_related_objects
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.conversation import conversation
from agents.fields import (
    BudgetField,
    FiniteFloatField,
    ObjectField,
    OffsetDateTimeField,
    StrictBooleanField,
    StrictCharField,
    id_field,
)
from agents.models import (
    MAX_ATTEMPTS,
    AgentStep,
    AgentTemplate,
    AgentType,
    DagRun,
    DagRunNode,
    Execution,
    ExecutionLogEntry,
    ExecutionStatus,
    OutputFormat,
    StepRun,
    StepRunStatus,
)
from agents.selectors import EXECUTION_IDS, LOG_PAGE_SIZE
from orchestra_site.api.serializers import FastReadSerializer, to_json_list

MAX_TEXT = 1_000_000
# A follow-up reaches the agent CLI on its stdin (no 128 KiB argv limit): at most 1 MB of UTF-8.
MAX_MESSAGE_CHARS = 250_000
INT32 = 2**31 - 1
MAX_EXECUTIONS_LISTED = 1000
MAX_LOG_PAGE_SIZE = 1000
REPLACES = "Replaces the stored object; null means {}."


# --- Templates, steps, edges ------------------------------------------------------------------


def attempts_field(help_text: str) -> serializers.IntegerField:
    """``attempts`` (best of N) on a launch or a DAG run: 1 to ``MAX_ATTEMPTS``, default 1."""
    return serializers.IntegerField(min_value=1, max_value=MAX_ATTEMPTS, required=False, default=1, help_text=help_text)


class StepEdgeSerializer(serializers.Serializer):
    """StepEdge ``{parent_id, child_id}``: the body of POST and DELETE .../edges and POST's answer.
    Inside ``POST /agent-templates`` the two numbers are zero-based indices into ``steps``."""

    parent_id = id_field()
    child_id = id_field()


class StepListSerializer(serializers.ListSerializer):
    """A template's steps with their links in three queries, whatever their number."""

    def to_representation(self, data: Any) -> list[Any]:
        steps = list(data.all() if isinstance(data, Manager) else data)
        prefetch_related_objects(steps, "parent_edges", "child_edges")
        return super().to_representation(steps)


class StepSerializer(FastReadSerializer):
    template_id = serializers.IntegerField(read_only=True)
    position_x = serializers.FloatField(read_only=True)
    position_y = serializers.FloatField(read_only=True)
    metadata = ObjectField(read_only=True)
    parent_ids = serializers.SerializerMethodField()
    child_ids = serializers.SerializerMethodField()

    class Meta:
        model = AgentStep
        fields = [
            "id",
            "template_id",
            "name",
            "agent_type",
            "prompt_template",
            "output_format",
            "position_x",
            "position_y",
            "metadata",
            "model_version",
            "thinking_budget",
            "reasoning_level",
            "max_budget_usd",
            "parent_ids",
            "child_ids",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        list_serializer_class = StepListSerializer

    def get_parent_ids(self, step: AgentStep) -> list[int]:
        return sorted(edge.parent_id for edge in step.parent_edges.all())

    def get_child_ids(self, step: AgentStep) -> list[int]:
        return sorted(edge.child_id for edge in step.child_edges.all())


class StepInputSerializer(serializers.Serializer):
    """AgentStepCreate; with ``partial=True`` a PATCH, every key optional. Read-only keys (ids,
    ``parent_ids``, ``child_ids``, timestamps) are ignored like any unknown key."""

    name = StrictCharField(max_length=255)
    agent_type = serializers.ChoiceField(choices=AgentType.choices)
    prompt_template = StrictCharField(max_length=MAX_TEXT)
    output_format = serializers.ChoiceField(choices=OutputFormat.choices, required=False)
    position_x = FiniteFloatField(required=False)
    position_y = FiniteFloatField(required=False)
    metadata = ObjectField(required=False, allow_null=True)
    model_version = StrictCharField(max_length=255, required=False, allow_null=True)
    thinking_budget = serializers.IntegerField(min_value=0, max_value=INT32, required=False, allow_null=True)
    reasoning_level = StrictCharField(max_length=64, required=False, allow_null=True)
    max_budget_usd = BudgetField()


class TemplateSerializer(FastReadSerializer):
    metadata = ObjectField(read_only=True)

    class Meta:
        model = AgentTemplate
        fields = ["id", "name", "description", "metadata", "max_budget_usd", "created_at", "updated_at"]
        read_only_fields = fields


class TemplateWithStepsSerializer(TemplateSerializer):
    steps = StepSerializer(many=True, read_only=True, help_text="Ascending id.")
    edges = StepEdgeSerializer(many=True, read_only=True)

    class Meta(TemplateSerializer.Meta):
        fields = [*TemplateSerializer.Meta.fields, "steps", "edges"]
        read_only_fields = fields


class TemplateInputSerializer(serializers.Serializer):
    """``POST /agent-templates``; with ``partial=True`` the PATCH, which edits the template alone:
    steps and edges have their own routes, so a PATCH ignores those keys as any unknown key."""

    name = StrictCharField(max_length=255)
    description = StrictCharField(max_length=MAX_TEXT, required=False, allow_null=True)
    metadata = ObjectField(required=False, allow_null=True, help_text=REPLACES)
    max_budget_usd = BudgetField()
    steps = StepInputSerializer(many=True, required=False)
    edges = StepEdgeSerializer(many=True, required=False, help_text="Zero-based indices into steps.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if self.partial:
            del fields["steps"], fields["edges"]
        return fields


# --- Executions and step runs -----------------------------------------------------------------


class StepRunSerializer(FastReadSerializer):
    execution_id = serializers.IntegerField(read_only=True)
    step_id = serializers.IntegerField(read_only=True, allow_null=True)
    metadata = ObjectField(read_only=True)

    class Meta:
        model = StepRun
        fields = [
            "id",
            "execution_id",
            "step_id",
            "name",
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


class StepRunInputSerializer(serializers.Serializer):
    """The PATCH of a step run (always ``partial=True``)."""

    status = serializers.ChoiceField(choices=StepRunStatus.choices)
    output = StrictCharField(max_length=MAX_TEXT * 10, allow_null=True)
    error = StrictCharField(max_length=MAX_TEXT, allow_null=True)
    metadata = ObjectField(allow_null=True, help_text=REPLACES)


# What an execution's review and landing added (agents.services.landing); in its detail and events.
LANDING_FIELDS = [
    "base_ref",
    "base_commit",
    "merged_commit",
    "merged_at",
    "pull_request_url",
    "worktree_bytes",
    "worktree_removed_at",
]


class ExecutionSerializer(FastReadSerializer):
    project_id = serializers.IntegerField(read_only=True)
    node_id = serializers.IntegerField(read_only=True, allow_null=True)
    template_id = serializers.IntegerField(read_only=True, allow_null=True)
    metadata = ObjectField(read_only=True)

    class Meta:
        model = Execution
        fields = [
            "id",
            "project_id",
            "node_id",
            "template_id",
            "status",
            "tmux_session",
            "worktree_path",
            "worktree_branch",
            *LANDING_FIELDS,
            "metadata",
            "error",
            "max_budget_usd",
            "started_at",
            "finished_at",
            "created_at",
            "updated_at",
            "attempt",
            "attempt_group",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "error": {"help_text": "Why the hub's runner failed the execution, if it did."},
            "attempt": {"help_text": "Which attempt of a best-of-N launch or DAG node (1..N); 1 when alone."},
            "attempt_group": {"help_text": "The first attempt's id, shared by every attempt; null when alone."},
        }


class ConversationEntrySerializer(serializers.Serializer):
    """One turn of an execution's conversation: a prompt (``user``) or the agent's final answer."""

    role = serializers.ChoiceField(choices=["user", "agent"])
    step_run_id = serializers.IntegerField()
    text = serializers.CharField(allow_null=True, help_text="The prompt, or the answer (null if it gave none).")
    status = serializers.ChoiceField(choices=StepRunStatus.choices, help_text="The step run's status.")
    error = serializers.CharField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True, help_text="When it was sent, or when the answer came.")


class ExecutionMessageSerializer(ConversationEntrySerializer):
    """``execution.message``: one new turn of an execution's conversation."""

    execution_id = serializers.IntegerField()


class ExecutionWithStepRunsSerializer(ExecutionSerializer):
    step_runs = StepRunSerializer(many=True, read_only=True, help_text="Ascending id.")
    conversation = serializers.SerializerMethodField(
        help_text="Each prompt and each final answer, in order: the template's steps, then follow-up messages."
    )

    spent_usd = serializers.SerializerMethodField(
        help_text="What its agents spent, in USD (their reported cost, or their tokens priced)."
    )

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "step_runs", "conversation", "spent_usd"]
        read_only_fields = fields

    def get_spent_usd(self, execution: Execution) -> float:
        return round(sum(step_run.cost_usd or 0.0 for step_run in execution.step_runs.all()), 6)

    @extend_schema_field(ConversationEntrySerializer(many=True))
    def get_conversation(self, execution: Execution) -> list[dict[str, Any]]:
        return to_json_list(ConversationEntrySerializer, conversation(list(execution.step_runs.all())))


class MessageInputSerializer(serializers.Serializer):
    """``POST /projects/{pid}/executions/{eid}/messages``: the next prompt of the conversation."""

    prompt = StrictCharField(max_length=MAX_MESSAGE_CHARS, allow_blank=False)

    def validate_prompt(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Must not be blank.")
        if "\x00" in value:
            raise serializers.ValidationError("Must not contain a NUL character.")
        return value


class ExecutionInputSerializer(serializers.Serializer):
    """The PATCH of an execution (always ``partial=True``): what a client knows about it."""

    status = serializers.ChoiceField(choices=ExecutionStatus.choices)
    tmux_session = StrictCharField(max_length=255, allow_null=True)
    worktree_path = StrictCharField(max_length=1024, allow_null=True)
    worktree_branch = StrictCharField(max_length=255, allow_null=True)
    metadata = ObjectField(allow_null=True, help_text=REPLACES)


class LaunchSerializer(serializers.Serializer):
    """LaunchRequest: what to run, for preview and launch."""

    template_id = id_field()
    context: Any = ObjectField(required=False, default=dict)  # Any: named like Serializer.context
    create_worktree = StrictBooleanField(required=False, default=False)
    max_budget_usd = BudgetField()
    attempts = attempts_field("Best of N: this many executions of the node, each in its own worktree (1 to 5).")


class ExecutionCreateSerializer(serializers.Serializer):
    """``POST /projects/{pid}/executions``: like a launch request, every key optional; stored, not run."""

    node_id = id_field(required=False, allow_null=True)
    template_id = id_field(required=False, allow_null=True)
    create_worktree = StrictBooleanField(required=False, default=False)
    context: Any = ObjectField(required=False, default=dict)  # Any: named like Serializer.context


class LaunchByBodySerializer(LaunchSerializer):
    """``POST /launch``: the launch request plus the project and node it runs on."""

    project_id = id_field()
    node_id = id_field()


class ExecutionFilterSerializer(serializers.Serializer):
    node_id = id_field(required=False)
    template_id = id_field(required=False)
    attempt_group = id_field(required=False, help_text="The attempts of one best-of-N launch or DAG node.")


class ExecutionIndexFilterSerializer(serializers.Serializer):
    project_id = id_field(required=False)
    status = serializers.ChoiceField(choices=ExecutionStatus.choices, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_EXECUTIONS_LISTED, required=False)


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
    context: Any = serializers.DictField(  # Any: named like Serializer.context
        help_text="The merged context the prompts were resolved with."
    )
    resolved_prompts = ResolvedPromptSerializer(many=True)


# --- Logs ---------------------------------------------------------------------------------------


class LogQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0, default=0, max_value=2**62, help_text="Return entries with a larger seq (default 0)."
    )
    limit = serializers.IntegerField(
        min_value=1,
        max_value=MAX_LOG_PAGE_SIZE,
        default=LOG_PAGE_SIZE,
        help_text="At most this many entries (1 to 1000, default 500).",
    )


class LogEntrySerializer(FastReadSerializer):
    step_run_id = serializers.IntegerField(read_only=True, allow_null=True)
    data: Any = serializers.DictField(  # Any: named like Serializer.data
        read_only=True, help_text="The terminal frame as it was sent live."
    )
    created_at = OffsetDateTimeField(read_only=True)

    class Meta:
        model = ExecutionLogEntry
        fields = ["seq", "kind", "step_run_id", "data", "created_at"]
        read_only_fields = fields


class LogPageSerializer(serializers.Serializer):
    execution_id = serializers.IntegerField()
    status = serializers.CharField()
    entries = LogEntrySerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as `after` to read the next page.")
    has_more = serializers.BooleanField()


# --- DAG runs -----------------------------------------------------------------------------------


class DagRunNodeListSerializer(serializers.ListSerializer):
    """A run's nodes with their executions in two queries (none when a list prefetched them)."""

    def to_representation(self, data: Any) -> list[Any]:
        run_nodes = list(data.all() if isinstance(data, Manager) else data)
        prefetch_related_objects(run_nodes, EXECUTION_IDS)
        return super().to_representation(run_nodes)


class DagRunNodeSerializer(FastReadSerializer):
    node_id = serializers.IntegerField(read_only=True)
    attempts = serializers.IntegerField(
        read_only=True, help_text="Attempts that counted (an interrupted runner gives its back)."
    )
    execution_ids = serializers.ManyRelatedField(
        child_relation=serializers.PrimaryKeyRelatedField(read_only=True),
        source="executions",
        read_only=True,
        help_text="Oldest first.",
    )

    class Meta:
        model = DagRunNode
        fields = ["node_id", "status", "attempts", "execution_ids", "error"]
        read_only_fields = fields
        list_serializer_class = DagRunNodeListSerializer


class DagRunSerializer(FastReadSerializer):
    project_id = serializers.IntegerField(read_only=True)
    nodes = DagRunNodeSerializer(source="run_nodes", many=True, read_only=True)
    max_retries = serializers.IntegerField(read_only=True)
    retry_backoff_seconds = serializers.IntegerField(read_only=True)

    class Meta:
        model = DagRun
        fields = [
            "id",
            "project_id",
            "status",
            "nodes",
            "max_retries",
            "retry_backoff_seconds",
            "max_budget_usd",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
        ]
        read_only_fields = fields
        extra_kwargs = {"attempts": {"help_text": "Executions started per node (best of N)."}}


class DagRunInputSerializer(serializers.Serializer):
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
    max_budget_usd = BudgetField()
    attempts = attempts_field("Best of N: each node runs as this many executions, each in its own worktree (1 to 5).")


# --- Spend ----------------------------------------------------------------------------------------


class SpendQuerySerializer(serializers.Serializer):
    day = serializers.DateField(required=False, help_text="A UTC day, YYYY-MM-DD; default today.")
    workspace_path = StrictCharField(max_length=1024, required=False, help_text="One workspace only.")


class WorkspaceSpendSerializer(serializers.Serializer):
    workspace_path = serializers.CharField()
    day = serializers.DateField()
    spent_usd = serializers.FloatField(help_text="The cost its agents reported (or their tokens priced) that day.")
    daily_budget_usd = serializers.FloatField(
        allow_null=True, help_text="ORCHESTRA_WORKSPACE_DAILY_BUDGET_USD; null: no daily limit."
    )
    left_usd = serializers.FloatField(allow_null=True)
    agents = serializers.IntegerField(help_text="Step runs that finished that day.")
    executions = serializers.IntegerField()
