"""Preview and launch a template on a node.

Both resolve the prompts with the same context and the same function, so a preview shows exactly
the prompts a launch stores. Launch queues the execution for the hub's own runner.
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import transaction

from agents import events, selectors
from agents.budgets import refuse_when_daily_budget_spent
from agents.models import MAX_ATTEMPTS, AgentStep, AgentTemplate, Execution
from agents.prompts import launch_context, resolve_prompt
from agents.services.lifecycle import execution_build
from agents.wakeup import wake_runners_on_commit
from orchestra_site.api.exceptions import InvalidInput
from projects.models import Node, Project


class ResolvedPromptData(TypedDict):
    step_id: int
    step_name: str
    agent_type: str
    prompt_template: str
    resolved_prompt: str


class LaunchPreviewData(TypedDict):
    template_id: int
    context: dict[str, Any]
    resolved_prompts: list[ResolvedPromptData]


def _targets(
    *, project_id: int, node_id: int, template_id: int, lock: bool = False
) -> tuple[Project, Node, AgentTemplate]:
    """404s in the contract's order: project, then node, then template.

    ``lock`` holds the project and template rows (in that order, as everywhere) until commit, so
    neither the node nor the steps can be deleted while the execution is being built.
    """
    project = selectors.project_get(project_id, for_update=lock)
    node = selectors.node_get(project_id=project_id, node_id=node_id)
    template = selectors.template_get(template_id, for_update=lock)
    return project, node, template


def launch_preview(
    *, project_id: int, node_id: int, template_id: int, context: dict[str, Any] | None = None
) -> LaunchPreviewData:
    """What a launch would store, without storing anything or sending events."""
    _, node, template = _targets(project_id=project_id, node_id=node_id, template_id=template_id)
    merged = launch_context(node, context or {})
    steps = AgentStep.objects.filter(template_id=template.pk).order_by("id")
    return {
        "template_id": template.pk,
        "context": merged,
        "resolved_prompts": [
            {
                "step_id": step.pk,
                "step_name": step.name,
                "agent_type": step.agent_type,
                "prompt_template": step.prompt_template,
                "resolved_prompt": resolve_prompt(step.prompt_template, merged),
            }
            for step in steps
        ],
    }


@transaction.atomic
def launch(
    *,
    project_id: int,
    node_id: int,
    template_id: int,
    context: dict[str, Any] | None = None,
    create_worktree: bool = False,
    max_budget_usd: float | None = None,
    attempts: int = 1,
) -> Execution:
    """Create the execution (pending, ``queued``) and hand it to the hub's runner; the first one.

    Best of N: ``attempts`` > 1 creates that many executions of the node, each in its own
    worktree (whatever ``create_worktree`` says), numbered ``attempt`` 1..N in one
    ``attempt_group`` (the first one's id).

    Events, after commit and in this order for each: ``execution.created``, then
    ``execution.status`` saying the execution waits for the runner (no external executor exists).
    """
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise InvalidInput(f"attempts: must be from 1 to {MAX_ATTEMPTS}, got {attempts}.")
    project, node, template = _targets(project_id=project_id, node_id=node_id, template_id=template_id, lock=True)
    refuse_when_daily_budget_spent(workspace_path=project.workspace_path)
    merged = launch_context(node, context or {})
    create_worktree = create_worktree or attempts > 1
    group: int | None = 0 if attempts > 1 else None  # 0: the first attempt is stamped with its own id
    built: list[Execution] = []
    for attempt in range(1, attempts + 1):
        execution = execution_build(
            project=project,
            node=node,
            template=template,
            context=merged,
            metadata={"context": merged, "_create_worktree": create_worktree},
            create_worktree=create_worktree,
            queued=True,
            attempt=attempt,
            attempt_group=group,
            max_budget_usd=max_budget_usd,
        )
        group = execution.attempt_group
        events.send_execution_status(execution)
        built.append(execution)
    wake_runners_on_commit()
    return built[0]
