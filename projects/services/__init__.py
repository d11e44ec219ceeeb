"""Every change to projects, nodes, tasks and runs goes through these functions (API, admin, runner alike).

``graph``: projects, nodes and their parent links, the plan draft. ``tasks``:
``runs``: run records. ``deliverables``: a node's outputs. ``node_status``: the hub's own status
changes of a node. ``hooks``: hook configurations and their checks. Everything is re-exported
here, so callers write ``services.node_create``.
"""

from __future__ import annotations

from projects.services.deliverables import (
    DeliverableChanges,
    deliverable_create,
    deliverable_delete,
    deliverable_update,
)
from projects.services.graph import (
    PARENTS_NOT_FOUND,
    NodeChanges,
    ProjectChanges,
    node_create,
    node_delete,
    node_parents_check,
    node_update,
    plan_generate,
    project_create,
    project_delete,
    project_update,
)
from projects.services.hooks import HookChanges, hook_create, hook_delete, hook_execute, hook_update, node_validate
from projects.services.node_status import node_set_status
from projects.services.runs import RunChanges, run_create, run_update
from projects.services.tasks import TaskChanges, task_create, task_delete, task_update

__all__ = [
    "PARENTS_NOT_FOUND",
    "DeliverableChanges",
    "HookChanges",
    "NodeChanges",
    "ProjectChanges",
    "RunChanges",
    "TaskChanges",
    "deliverable_create",
    "deliverable_delete",
    "deliverable_update",
    "hook_create",
    "hook_delete",
    "hook_execute",
    "hook_update",
    "node_create",
    "node_delete",
    "node_parents_check",
    "node_set_status",
    "node_update",
    "node_validate",
    "plan_generate",
    "project_create",
    "project_delete",
    "project_update",
    "run_create",
    "run_update",
    "task_create",
    "task_delete",
    "task_update",
]
