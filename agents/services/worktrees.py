"""An execution's git life: where it started, its worktree committed after each step, the
worktree removed (by a client or after ``ORCHESTRA_WORKTREE_RETENTION``). The git itself is
``agents.git_cleanroom``'s: no program the repository names runs."""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agents import events, git, git_cleanroom
from agents.git import GitRefused
from agents.models import Execution, ExecutionStatus
from orchestra_site.api.exceptions import HubError, NotFound, StateConflict
from projects.workspaces import validate_workspace_path, validate_worktree_path

logger = logging.getLogger(__name__)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def repository_lock(repository: git.Repository) -> threading.Lock:
    """One lock per repository in this process: its hub-made commits and merges take turns
    (other processes are kept apart by ``update-ref``'s compare-and-set)."""
    with _locks_guard:
        return _locks.setdefault(str(repository.git_dir), threading.Lock())


def workspace_repository(execution: Execution) -> git.Repository:
    """The repository of the execution's workspace, or ``GitRefused`` saying why not."""
    workspace = validate_workspace_path(execution.workspace_path, project_id=execution.project_id)
    return git.repository_locate(workspace)


def execution_record_base(*, execution: Execution) -> None:
    """Record the branch and commit the workspace has checked out, once (the first step's
    start): the base of the execution's diff and the target of its merge. Nothing for a
    workspace that is not a git repository or has no commit yet."""
    if execution.base_commit:
        return
    try:
        repository = workspace_repository(execution)
        commit = git_cleanroom.rev_parse(repository, "HEAD")
        branch = git_cleanroom.head_branch(repository)
    except HubError:
        return
    if commit is None:
        return
    updated = Execution.objects.filter(pk=execution.pk, base_commit__isnull=True).update(
        base_ref=branch, base_commit=commit, updated_at=timezone.now()
    )
    if updated:
        execution.base_ref, execution.base_commit = branch, commit
        events.send_execution_updated(execution)


def commit_after_step_enabled(execution: Execution) -> bool:
    """A template turns the commit after each step off with ``metadata.commit_after_step: false``."""
    meta = execution.template.metadata if execution.template is not None else None
    return not (isinstance(meta, dict) and meta.get("commit_after_step") is False)


def worktree_commit(*, execution: Execution, message: str) -> str | None:
    """Commit what the agent left in the execution's worktree on its branch (None: nothing to
    commit, or no worktree). ``GitRefused`` when it cannot be done."""
    if not execution.worktree_path or not execution.worktree_branch or execution.worktree_removed_at:
        return None
    folder = validate_worktree_path(execution.worktree_path)
    if not folder.is_dir():
        return None
    repository = workspace_repository(execution)
    with repository_lock(repository), git_cleanroom.clean_room(repository) as room:
        return git_cleanroom.commit_work(
            room, repository, folder=folder, branch=git.validate_branch_name(execution.worktree_branch), message=message
        )


def step_commit_message(execution: Execution, step_name: str, agent_type: str) -> str:
    return f"{step_name} (execution {execution.pk}, {agent_type})\n\nCommitted by Orchestra Hub after the step."


def worktree_after_step(*, execution_id: int, step_name: str, agent_type: str) -> None:
    """After each step: commit the agent's work (unless the template turned it off) and measure
    the worktree. Failures are logged, never fail the step."""
    execution = Execution.objects.select_related("template").get(pk=execution_id)
    if not execution.worktree_path or execution.worktree_removed_at:
        return
    if commit_after_step_enabled(execution):
        try:
            worktree_commit(execution=execution, message=step_commit_message(execution, step_name, agent_type))
        except HubError as exc:
            logger.warning("execution %s: the work of step %r was not committed: %s", execution.pk, step_name, exc)
    worktree_measure(execution=execution)


def worktree_measure(*, execution: Execution) -> None:
    try:
        folder = validate_worktree_path(execution.worktree_path)
    except HubError:
        return
    size = git_cleanroom.disk_bytes(folder) if folder.is_dir() else 0
    Execution.objects.filter(pk=execution.pk).update(worktree_bytes=size, updated_at=timezone.now())
    execution.worktree_bytes = size
    events.send_execution_updated(execution)


def execution_worktree_remove(*, project_id: int, execution_id: int) -> Execution:
    """``DELETE .../worktree``: commit what is left on the branch, delete the folder, forget it
    in git (``worktree prune``). The branch stays: the hub never deletes a branch."""
    execution = Execution.objects.select_related("template").filter(project_id=project_id, pk=execution_id).first()
    if execution is None:
        raise NotFound(f"Execution {execution_id} not found in project {project_id}.")
    if not execution.worktree_path or execution.worktree_removed_at:
        raise StateConflict(f"Execution {execution_id} has no worktree to remove.")
    if execution.status == ExecutionStatus.RUNNING:
        raise StateConflict(f"Execution {execution_id} is running; cancel it or wait before removing its worktree.")
    if execution.status == ExecutionStatus.PENDING:
        raise StateConflict(
            f"Execution {execution_id} is pending (a follow-up message is queued for its agent, which works in this"
            " worktree); cancel it or wait before removing its worktree."
        )
    worktree_remove(execution=execution)
    return execution


def worktree_remove(*, execution: Execution) -> None:
    folder = validate_worktree_path(execution.worktree_path)
    try:
        worktree_commit(execution=execution, message=f"Work left in execution {execution.pk}'s worktree at removal")
    except GitRefused as exc:
        raise StateConflict(f"The worktree's work could not be committed first, so it was kept: {exc.detail}") from None
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)  # never follows links (shutil.rmtree.avoids_symlink_attacks on Linux)
    try:
        repository = workspace_repository(execution)
        git.run_git(repository, "worktree", "prune", check=False)
    except HubError:
        pass
    now = timezone.now()
    with transaction.atomic():
        Execution.objects.filter(pk=execution.pk).update(worktree_removed_at=now, worktree_bytes=0, updated_at=now)
    execution.worktree_removed_at, execution.worktree_bytes = now, 0
    events.send_execution_updated(execution)


def landed_or_discarded(cutoff: object) -> Q:
    """Executions whose work is done with since before ``cutoff``: merged, or discarded (the
    attempts of a best of N that were not landed)."""
    return Q(merged_at__lte=cutoff) | Q(status=ExecutionStatus.DISCARDED, updated_at__lte=cutoff)


def worktrees_prune(*, older_than: timedelta | None = None) -> list[int]:
    """Remove the worktrees of executions merged or discarded longer ago than ``older_than``
    (default ``ORCHESTRA_WORKTREE_RETENTION``); the ids done. Branches stay."""
    age = timedelta(seconds=settings.WORKTREE_RETENTION) if older_than is None else older_than
    candidates = Execution.objects.filter(
        landed_or_discarded(timezone.now() - age), worktree_path__isnull=False, worktree_removed_at__isnull=True
    ).exclude(status__in=[ExecutionStatus.RUNNING, ExecutionStatus.PENDING])
    removed = []
    for execution in candidates.order_by("id")[:100]:
        try:
            worktree_remove(execution=execution)
            removed.append(execution.pk)
        except HubError as exc:
            logger.warning("execution %s: its worktree was kept: %s", execution.pk, exc)
    return removed


def worktree_folder(execution: Execution) -> Path | None:
    """The execution's worktree folder if it still exists."""
    if not execution.worktree_path or execution.worktree_removed_at:
        return None
    try:
        folder = validate_worktree_path(execution.worktree_path)
    except HubError:
        return None
    return folder if folder.is_dir() else None
