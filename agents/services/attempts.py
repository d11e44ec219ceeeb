"""Best of N: the attempts of one launch or DAG node, and setting aside the ones not landed.

A launch (or a DAG run) with ``attempts`` > 1 starts that many executions of the same node, each
in its own worktree and branch; they share ``attempt_group`` (the first attempt's id) and are
numbered by ``attempt``. Landing one (merge or pull request) calls ``discard_other_attempts``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction

from agents.git import repository_open, run_git
from agents.models import Execution, ExecutionStatus, StepRun
from agents.services.lifecycle.attempts import execution_discard
from agents.wakeup import wake_runners_on_commit
from orchestra_site.api.exceptions import InvalidInput
from projects.workspaces import validate_workspace_path, validate_worktree_path

logger = logging.getLogger(__name__)


def discard_other_attempts(*, execution: Execution) -> list[int]:
    """Mark every other execution of ``execution``'s attempt group ``discarded`` (their running
    agents are stopped as on a cancel) and, once that is committed, remove their worktrees (a
    worktree whose agent is still being stopped is removed by its runner afterwards). Their
    branches stay: what an agent committed is never deleted here. The ids discarded now, ascending;
    none for an execution that is not part of a best-of-N group."""
    if execution.attempt_group is None:
        return []
    with transaction.atomic():
        others = (
            Execution.objects.filter(attempt_group=execution.attempt_group)
            .exclude(pk=execution.pk)
            .filter(merged_at__isnull=True)  # a merged attempt stays what it is
            .order_by("id")
            .values_list("pk", flat=True)
        )
        discarded = [other for other in others if execution_discard(execution_id=other)]
        # An attempt whose agent still holds its slot is its runner's to clean up once the agent
        # has stopped (``discarded_worktree_remove``, on the machine where the worktree is).
        agents_running = StepRun.objects.filter(execution_id__in=discarded, slot_path__isnull=False)
        worktrees = list(
            Execution.objects.filter(pk__in=discarded, worktree_path__isnull=False)
            .exclude(pk__in=agents_running.values("execution_id"))
            .values_list("pk", "project_id", "workspace_path", "worktree_path")
        )
        wake_runners_on_commit()
        transaction.on_commit(lambda: _remove_worktrees(worktrees))
    return discarded


def discarded_worktree_remove(*, step_run_id: int) -> None:
    """After a runner's agent ended: if its execution was discarded meanwhile, remove its worktree
    (``discard_other_attempts`` leaves that to the runner while the agent still runs)."""
    found = (
        Execution.objects.filter(step_runs=step_run_id, status=ExecutionStatus.DISCARDED, worktree_path__isnull=False)
        .values_list("pk", "project_id", "workspace_path", "worktree_path")
        .first()
    )
    if found is not None:
        _remove_worktrees([found])


def _remove_worktrees(worktrees: list[tuple[int, int, str, str | None]]) -> None:
    for execution_id, project_id, workspace_path, worktree_path in worktrees:
        try:
            workspace = validate_workspace_path(workspace_path, project_id=project_id)
            remove_attempt_worktree(repository=workspace, path=validate_worktree_path(worktree_path))
        except InvalidInput as exc:  # the discard stands; the folder is left for the operator
            logger.warning("execution %s: its worktree %s was not removed: %s", execution_id, worktree_path, exc)


def remove_attempt_worktree(*, repository: Path, path: Path) -> None:
    """Remove the worktree at ``path`` of the workspace ``repository`` (uncommitted changes in it
    included); its branch is kept. A worktree never created (the attempt never ran) is forgotten."""
    repo = repository_open(repository)
    if path.exists():
        run_git(repo, "worktree", "remove", "--force", "--force", "--", str(path))
    else:
        run_git(repo, "worktree", "prune")
