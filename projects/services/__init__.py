"""Every change to projects, nodes, tasks and runs goes through these functions (API, admin, runner alike).

``graph``: projects, nodes and their parent links, the plan draft. ``tasks``:
``runs``: run records. Everything is re-exported here, so callers write ``services.node_create``.
"""

from __future__ import annotations

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
from projects.services.runs import RunChanges, run_create, run_update
from projects.services.tasks import TaskChanges, task_create, task_delete, task_update

__all__ = [
    "PARENTS_NOT_FOUND",
    "NodeChanges",
    "ProjectChanges",
    "RunChanges",
    "TaskChanges",
    "node_create",
    "node_delete",
    "node_parents_check",
    "node_update",
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
