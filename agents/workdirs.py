"""Where an execution's agents work: the project's workspace, or the execution's git worktree.

Shared by the runner (each step's cwd) and the pipelines (the folder whose change the critics
read), so both always mean the same folder.
"""

from __future__ import annotations

import threading
from pathlib import Path

from agents.git import create_worktree
from agents.models import Execution
from agents.services import worktrees
from orchestra_site.api.exceptions import StateConflict
from projects.workspaces import make_workspace_dir, validate_workspace_path, validate_worktree_path

_worktree_lock = threading.Lock()


def execution_cwd(execution: Execution) -> Path:
    """The workspace, or the execution's git worktree (created by the first step that needs it).

    Both are checked again here, symlinks resolved, whatever was checked when they were written:
    a row written before the rules, or a folder replaced by a link since, fails the step. The
    agent is then started in the folder as opened (``pinned_folder``), not by this path again.
    """
    workspace = validate_workspace_path(execution.workspace_path, project_id=execution.project_id)
    make_workspace_dir(workspace)
    worktrees.execution_record_base(execution=execution)
    if not execution.worktree_path:
        return workspace
    if execution.worktree_removed_at is not None:
        raise StateConflict(
            f"the worktree of execution {execution.pk} was removed (its work is on the branch"
            f" {execution.worktree_branch}); the hub does not make it again, so nothing can run in it."
        )
    path = validate_worktree_path(execution.worktree_path)
    with _worktree_lock:
        if not path.exists():
            create_worktree(
                repository=workspace,
                path=path,
                branch=execution.worktree_branch or f"agent/exec-{execution.pk}",
                start=execution.base_commit,
            )
    return path
