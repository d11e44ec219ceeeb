"""Projects, their DAG of nodes, tasks and run records (to).

Optional text columns are nullable on purpose: the contract tells ``null`` (cleared) from ``""``.
"""

# ruff: noqa: DJ001

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.db import models
from django.utils import timezone

TITLE_MAX = 255


class NodeStatus(models.TextChoices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    NEEDS_REVIEW = "needs_review"  # human attention required (a pipeline awaits review, or set by hand)
    COMPLETED = "completed"
    BLOCKED = "blocked"
    FAILED = "failed"


class NodeType(models.TextChoices):
    """How the DAG draws a node; a ``hook`` node may carry a ``HookNode`` configuration."""

    TASK = "task"
    HOOK = "hook"
    MILESTONE = "milestone"


class DeliverableType(models.TextChoices):
    PLAN = "plan"
    SOURCES = "sources"
    TOY_TEST = "toy_test"
    CODE = "code"
    CUSTOM = "custom"


class DeliverableStatus(models.TextChoices):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    VALIDATED = "validated"  # passed a hook's checks


class HookTrigger(models.TextChoices):
    """Stored and answered; nothing fires a hook on its own (it runs when asked to)."""

    PHASE_END = "phase_end"
    DELIVERABLE_PRODUCED = "deliverable_produced"
    MANUAL = "manual"


class HookAction(models.TextChoices):
    """Stored and answered; every action checks the same way."""

    VALIDATE = "validate"
    GATE = "gate"
    RETRY = "retry"


class AgentType(models.TextChoices):
    CLAUDE = "claude"
    CODEX = "codex"
    GEMINI = "gemini"
    CUSTOM = "custom"


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @classmethod
    def finished(cls) -> tuple[str, ...]:
        return (cls.COMPLETED, cls.FAILED, cls.CANCELLED)


class Project(models.Model):
    name = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(null=True, blank=True)
    workspace_path = models.CharField(
        max_length=1024, blank=True, help_text="Absolute folder on the hub machine where the project's agents work."
    )
    worktree_by_default = models.BooleanField(
        default=False,
        help_text="Each execution of the project gets a git worktree and branch of its own, even when "
        "its launch does not ask for one.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def workspace_dir(self) -> Path:
        """The workspace folder, created if it is missing (agents call this before they start)."""
        path = Path(self.workspace_path)
        path.mkdir(parents=True, exist_ok=True)
        return path


class Node(models.Model):
    """A unit of work in a project's DAG; ``parents`` are the nodes it depends on."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="nodes")
    title = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=NodeStatus.choices, default=NodeStatus.PENDING)
    agent_type = models.CharField(max_length=20, choices=AgentType.choices, null=True, blank=True)
    prompt = models.TextField(null=True, blank=True)
    context = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # NULL (an explicit null in a PATCH) is answered as "task".
    node_type = models.CharField(max_length=50, choices=NodeType.choices, null=True, blank=True, default=NodeType.TASK)
    # DeliverableSchema items ({type, name, required, description}): what the node should produce.
    expected_deliverables = models.JSONField(default=list, blank=True)
    position_x = models.FloatField(default=0.0)
    position_y = models.FloatField(default=0.0)
    parents = models.ManyToManyField(
        "self", through="NodeEdge", through_fields=("child", "parent"), symmetrical=False, related_name="children"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # Set by whoever already knows the parents (the graph read, a create); otherwise read once.
    _parent_ids: list[int] | None = None

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title

    @property
    def parent_ids(self) -> list[int]:
        """The ids of the nodes this one depends on, ascending: one query unless already known."""
        if self._parent_ids is None:
            edges = NodeEdge.objects.filter(child_id=self.pk).order_by("parent_id")
            self._parent_ids = list(edges.values_list("parent_id", flat=True))
        return self._parent_ids

    @parent_ids.setter
    def parent_ids(self, ids: Iterable[int]) -> None:
        self._parent_ids = sorted(ids)

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self._parent_ids = None


class NodeEdge(models.Model):
    """``parent`` must finish before ``child``; both belong to the same project (checked by the services)."""

    parent = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="child_edges")
    child = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="parent_edges")

    class Meta:
        ordering = ["child_id", "parent_id"]
        constraints = [models.UniqueConstraint(fields=["parent", "child"], name="projects_nodeedge_unique")]

    def __str__(self) -> str:
        return f"{self.parent_id} -> {self.child_id}"


class Task(models.Model):
    # Deleting a node deletes its tasks, as deleting a project deletes its tasks.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, null=True, blank=True, related_name="tasks")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, null=True, blank=True, related_name="tasks")
    title = models.CharField(max_length=TITLE_MAX)
    description = models.TextField(null=True, blank=True)
    completed = models.BooleanField(default=False)
    priority = models.BigIntegerField(default=0)
    due_date = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-priority", "-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Run(models.Model):
    """The record of one single-agent run of a node."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="runs")
    agent_type = models.CharField(max_length=20, choices=AgentType.choices)
    prompt = models.TextField()
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED)
    output = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} of node {self.node_id}"


class Deliverable(models.Model):
    """An output a node produced (mostly a pipeline's ``sources.md`` and ``plan.md``).

    ``name`` is a label, never a path. ``execution`` is the run that produced it, in the node's
    project; deleting the execution keeps the deliverable.
    """

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="deliverables")
    execution = models.ForeignKey(
        "agents.Execution", on_delete=models.SET_NULL, null=True, blank=True, related_name="deliverables"
    )
    type = models.CharField(max_length=50, choices=DeliverableType.choices)
    name = models.CharField(max_length=TITLE_MAX)
    content = models.TextField(default="", blank=True)
    status = models.CharField(max_length=50, choices=DeliverableStatus.choices, default=DeliverableStatus.PENDING)
    validation_errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["node", "created_at"], name="projects_deliv_node_created")]

    def __str__(self) -> str:
        return f"{self.name} of node {self.node_id}"


HOOK_MAX_RETRIES = 10


# What a client sets on a hook configuration (the API, the admin and the service write these).
HOOK_FIELDS = (
    "name",
    "trigger",
    "action",
    "required_deliverables",
    "validation_rules",
    "requires_human_approval",
    "max_retries",
)


class HookNode(models.Model):
    """The configuration of a hook node: which deliverables it requires and the regex each must match."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="hook_config")
    name = models.CharField(max_length=TITLE_MAX, default="Validation Hook")
    trigger = models.CharField(max_length=50, choices=HookTrigger.choices, default=HookTrigger.PHASE_END)
    action = models.CharField(max_length=50, choices=HookAction.choices, default=HookAction.VALIDATE)
    required_deliverables = models.JSONField(default=list, blank=True)
    validation_rules = models.JSONField(default=dict, blank=True)
    requires_human_approval = models.BooleanField(default=False)
    max_retries = models.IntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} (node {self.node_id})"
