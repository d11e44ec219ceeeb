"""POST /executions: an execution stored for a client, not started (launch is what runs).

Its other changes (PATCH, cancel, the step runs' PATCH) are status changes and live in
``agents.services.lifecycle``; they are importable from here too, as the views call them.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agents import selectors
from agents.models import AgentTemplate, Execution
from agents.prompts import execution_context
from agents.services.lifecycle import (
    ExecutionChanges,
    StepRunChanges,
    execution_build,
    execution_cancel,
    execution_update,
    step_run_update,
)
from orchestra_site.api.exceptions import InvalidInput
from projects.models import Node

NODE_NOT_IN_PROJECT = "Node not found in this project"

__all__ = [
    "NODE_NOT_IN_PROJECT",
    "ExecutionChanges",
    "StepRunChanges",
    "execution_cancel",
    "execution_create",
    "execution_update",
    "step_run_update",
]


@transaction.atomic
def execution_create(
    *,
    project_id: int,
    node_id: int | None = None,
    template_id: int | None = None,
    create_worktree: bool = False,
    context: dict[str, Any] | None = None,
) -> Execution:
    """POST /executions: stored, not started (``queued`` stays false; launch is what runs)."""
    project = selectors.project_get(project_id, for_update=True)
    node = None
    if node_id is not None:
        node = Node.objects.filter(pk=node_id, project_id=project_id).first()
        if node is None:
            raise InvalidInput(NODE_NOT_IN_PROJECT)
    template = None
    if template_id is not None:
        template = AgentTemplate.objects.select_for_update().filter(pk=template_id).first()
        if template is None:
            raise InvalidInput("Template not found")
    given = dict(context or {})
    return execution_build(
        project=project,
        node=node,
        template=template,
        context=execution_context(node, given),
        metadata={**given, "_create_worktree": create_worktree},
        create_worktree=create_worktree,
        queued=False,
    )
