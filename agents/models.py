"""Agent templates (a DAG of steps) and their executions (a DAG of step runs) on a project.

A template is edited through the API; an execution is a snapshot taken when it is created: each
step run keeps the step's name, agent type, resolved prompt, runner settings and parent links, so
editing or deleting the template later changes nothing in an execution that already exists.
"""

# The contract sends null (not "") for an empty description, output, session name...: null=True.
# ruff: noqa: DJ001
from __future__ import annotations

from django.db import models

from projects.models import AgentType  # one enum for nodes, runs, steps and step runs


class OutputFormat(models.TextChoices):
    TEXT = "text"
    JSON = "json"
    CODE = "code"
    MARKDOWN = "markdown"


class ExecutionStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DISCARDED = "discarded"  # another attempt of its best-of-N group was landed
    BUDGET_EXCEEDED = "budget_exceeded"  # an agent spent its budget and was stopped (agents/budgets.py)


class StepRunStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    BUDGET_EXCEEDED = "budget_exceeded"


class DagRunStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DagNodeStatus(models.TextChoices):
    """A node's place in one DAG run (its project node keeps its own ``NodeStatus``)."""

    WAITING = "waiting"  # parents not done yet, or a retry's backoff not over
    QUEUED = "queued"  # its execution waits for a runner and a slot
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"  # an ancestor failed for good
    CANCELLED = "cancelled"


DAG_RUN_ACTIVE = (DagRunStatus.PENDING, DagRunStatus.RUNNING)
DAG_NODE_ACTIVE = (DagNodeStatus.WAITING, DagNodeStatus.QUEUED, DagNodeStatus.RUNNING)
DAG_NODE_DEAD_END = (DagNodeStatus.FAILED, DagNodeStatus.SKIPPED, DagNodeStatus.CANCELLED)
EXECUTION_ACTIVE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)
EXECUTION_FINISHED = (
    ExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.DISCARDED,
    ExecutionStatus.BUDGET_EXCEEDED,
)
# A finished execution that a follow-up message may continue (a discarded one is set aside for good).
EXECUTION_CONTINUABLE = (
    ExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.BUDGET_EXCEEDED,
)
MAX_ATTEMPTS = 5
STEP_RUN_ACTIVE = (StepRunStatus.PENDING, StepRunStatus.RUNNING)
STEP_RUN_FINISHED = (
    StepRunStatus.COMPLETED,
    StepRunStatus.FAILED,
    StepRunStatus.SKIPPED,
    StepRunStatus.BUDGET_EXCEEDED,
)
BUDGET_HELP = "The most one agent may spend, in USD (null: no limit of its own)."


class AgentTemplate(models.Model):
    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    max_budget_usd = models.FloatField(null=True, blank=True, help_text=BUDGET_HELP)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class AgentStep(models.Model):
    template = models.ForeignKey(AgentTemplate, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=255)
    agent_type = models.CharField(max_length=20, choices=AgentType.choices)
    prompt_template = models.TextField()
    output_format = models.CharField(max_length=20, choices=OutputFormat.choices, default=OutputFormat.TEXT)
    position_x = models.FloatField(default=0)
    position_y = models.FloatField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    model_version = models.CharField(max_length=255, null=True, blank=True)
    thinking_budget = models.IntegerField(null=True, blank=True)
    reasoning_level = models.CharField(max_length=64, null=True, blank=True)
    max_budget_usd = models.FloatField(null=True, blank=True, help_text=BUDGET_HELP)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.agent_type})"


class StepEdge(models.Model):
    """``parent`` runs before ``child``. Self-edges and cycles are stored as the contract allows."""

    template = models.ForeignKey(AgentTemplate, on_delete=models.CASCADE, related_name="edges")
    parent = models.ForeignKey(AgentStep, on_delete=models.CASCADE, related_name="child_edges")
    child = models.ForeignKey(AgentStep, on_delete=models.CASCADE, related_name="parent_edges")

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["parent", "child"], name="agents_stepedge_unique_pair")]

    def __str__(self) -> str:
        return f"{self.parent_id} -> {self.child_id}"


class Execution(models.Model):
    """One run of a template on a project. Only ``queued`` executions are picked up by the runner."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="executions")
    node = models.ForeignKey(
        "projects.Node", on_delete=models.SET_NULL, null=True, blank=True, related_name="executions"
    )
    template = models.ForeignKey(
        AgentTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="executions"
    )
    run = models.OneToOneField(
        "projects.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="execution"
    )
    dag_run_node = models.ForeignKey(
        "agents.DagRunNode", on_delete=models.SET_NULL, null=True, blank=True, related_name="executions"
    )
    status = models.CharField(max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    tmux_session = models.CharField(max_length=255, null=True, blank=True)
    worktree_path = models.CharField(max_length=1024, null=True, blank=True)
    worktree_branch = models.CharField(max_length=255, null=True, blank=True)
    # Review and landing (agents.services.landing): where the execution started, what became of it.
    base_ref = models.CharField(
        max_length=255, null=True, blank=True, help_text="The branch checked out when the first step started."
    )
    base_commit = models.CharField(
        max_length=64, null=True, blank=True, help_text="The commit the first step started from: the diff's base."
    )
    merged_commit = models.CharField(max_length=64, null=True, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    pull_request_url = models.CharField(max_length=1024, null=True, blank=True)
    worktree_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Disk the worktree used when last measured (after each step)."
    )
    worktree_removed_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Not in the contract's JSON: what the runner needs.
    queued = models.BooleanField(
        default=False, help_text="Handed to the hub's runner (launch); POST /executions is not."
    )
    workspace_path = models.CharField(max_length=1024, blank=True, default="", help_text="The agents' cwd.")
    context = models.JSONField(
        default=dict, blank=True, help_text="The context the prompts were resolved with, for {{context.*}}."
    )
    error = models.TextField(null=True, blank=True)
    max_budget_usd = models.FloatField(null=True, blank=True, help_text=BUDGET_HELP)
    attempt = models.PositiveSmallIntegerField(default=1, help_text="Which of its best-of-N attempts (1..N).")
    attempt_group = models.PositiveIntegerField(
        null=True, blank=True, help_text="The first attempt's id, shared by the N attempts of one launch or DAG node."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "queued"], name="agents_exec_status_queued"),
            models.Index(fields=["attempt_group"], name="agents_exec_attempt_group"),
        ]

    def __str__(self) -> str:
        return f"execution {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in EXECUTION_FINISHED


class StepRun(models.Model):
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="step_runs")
    step = models.ForeignKey(AgentStep, on_delete=models.SET_NULL, null=True, blank=True, related_name="step_runs")
    parents = models.ManyToManyField("self", symmetrical=False, related_name="children", blank=True)
    name = models.CharField(max_length=255, help_text="The step's name at creation: {{Step Name}} in children.")
    agent_type = models.CharField(max_length=20, choices=AgentType.choices)
    prompt = models.TextField(help_text="The step's prompt template resolved at creation.")
    status = models.CharField(max_length=20, choices=StepRunStatus.choices, default=StepRunStatus.PENDING)
    output = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The runner's fields.
    settings = models.JSONField(
        default=dict,
        blank=True,
        help_text="Snapshot: model_version, thinking_budget, reasoning_level, output_format, timeout_seconds, env.",
    )
    runner = models.ForeignKey(
        "orchestra_site.HubProcess", on_delete=models.SET_NULL, null=True, blank=True, related_name="step_runs"
    )
    pid = models.IntegerField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    input_tokens = models.IntegerField(null=True, blank=True)
    output_tokens = models.IntegerField(null=True, blank=True)
    cost_usd = models.FloatField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    session_id = models.CharField(max_length=255, null=True, blank=True)
    slot_path = models.CharField(
        max_length=1024, null=True, blank=True, help_text="The workspace whose running slot this step holds."
    )
    crashed = models.BooleanField(default=False)
    resume_session_id = models.CharField(
        max_length=255, null=True, blank=True, help_text="A follow-up message: the agent session it continues."
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status"], name="agents_steprun_status")]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def is_message(self) -> bool:
        """A follow-up a user sent into the execution's agent session (not a template step)."""
        return self.resume_session_id is not None


class ExecutionLogEntry(models.Model):
    """One normalized event of an execution's agents, replayable by ``seq`` (written by the runner)."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="log_entries")
    step_run = models.ForeignKey(StepRun, on_delete=models.CASCADE, null=True, blank=True, related_name="log_entries")
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=20)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["execution", "seq"]
        # The unique constraint's index serves (execution, seq) lookups and range scans.
        constraints = [models.UniqueConstraint(fields=["execution", "seq"], name="agents_logentry_unique_seq")]
        verbose_name_plural = "execution log entries"

    def __str__(self) -> str:
        return f"{self.execution_id}#{self.seq} {self.kind}"


class DagRun(models.Model):
    """One run of a project's DAG: its nodes run in dependency order, each as an execution."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="dag_runs")
    template = models.ForeignKey(
        AgentTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="dag_runs"
    )
    status = models.CharField(max_length=20, choices=DagRunStatus.choices, default=DagRunStatus.PENDING)
    max_retries = models.PositiveSmallIntegerField(default=1)
    retry_backoff_seconds = models.PositiveIntegerField(default=10)
    create_worktree = models.BooleanField(default=False)
    max_budget_usd = models.FloatField(null=True, blank=True, help_text=BUDGET_HELP)
    attempts = models.PositiveSmallIntegerField(default=1, help_text="Executions started per node (best of N).")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"], name="agents_dagrun_status")]

    def __str__(self) -> str:
        return f"DAG run {self.pk} ({self.status})"

    def retry_delay_seconds(self, attempt: int) -> int:
        """How long to wait after failed attempt number ``attempt`` (1-based): doubling each time."""
        return int(self.retry_backoff_seconds * 2 ** max(attempt - 1, 0))


class DagRunNode(models.Model):
    """One node of a DAG run. ``parent_ids`` are its parents inside the run, frozen at creation."""

    dag_run = models.ForeignKey(DagRun, on_delete=models.CASCADE, related_name="run_nodes")
    node = models.ForeignKey("projects.Node", on_delete=models.CASCADE, related_name="dag_run_nodes")
    parent_ids = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=DagNodeStatus.choices, default=DagNodeStatus.WAITING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts that used up a try (crashes do not).")
    error = models.TextField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True, help_text="A retry waits for its backoff until then.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["dag_run", "node"], name="agents_dagrunnode_unique_node")]

    def __str__(self) -> str:
        return f"node {self.node_id} of DAG run {self.dag_run_id} ({self.status})"


class ProcessRoots(models.Model):
    """The workspace roots of a live hub process: what its runner serves, or what its API allows.

    Runners read them to tell a step that waits for a runner of another machine (inside some
    process's roots) from one whose workspace no process allows at all (it fails clearly).
    """

    process = models.OneToOneField(
        "orchestra_site.HubProcess", on_delete=models.CASCADE, primary_key=True, related_name="workspace_roots"
    )
    roots = models.JSONField(default=list)
    runs_agents = models.BooleanField(default=True, help_text="False for a serve started with --no-runner.")

    class Meta:
        verbose_name_plural = "process roots"

    def __str__(self) -> str:
        return f"process {self.process_id}: {', '.join(self.roots)}"
