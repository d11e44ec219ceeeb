"""``GET .../executions/{eid}/diff``: what an execution changed against the commit it started
from, uncommitted work included, computed in a clean room (``agents.git_cleanroom``)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

from agents import git, git_cleanroom
from agents.git import GitRefused
from agents.models import Execution
from agents.services import worktrees
from orchestra_site.api.exceptions import HubError, InvalidInput, NotFound, StateConflict

STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "modified", "C": "added"}
DIFF_OPTIONS = ("-r", "-M", "--no-ext-diff", "--no-textconv", "--no-color")


def validate_diff_path(value: object, *, field: str = "path") -> str:
    """A path inside the repository, as git writes it: relative, no ``..``, no NUL."""
    if not isinstance(value, str) or not value or len(value) > 4096 or "\x00" in value:
        raise InvalidInput(f"{field}: must be a path of 1 to 4096 characters inside the repository.")
    parts = PurePosixPath(value).parts
    if value.startswith("/") or any(part in ("..", ".") for part in value.split("/")) or not parts:
        raise InvalidInput(f"{field}: {value!r} must be relative to the repository, without '.' or '..'.")
    return value


def execution_for_git(*, project_id: int, execution_id: int) -> Execution:
    execution = (
        Execution.objects.select_related("template", "node").filter(project_id=project_id, pk=execution_id).first()
    )
    if execution is None:
        raise NotFound(f"Execution {execution_id} not found in project {project_id}.")
    return execution


def not_in_git(execution: Execution, reason: str) -> StateConflict:
    return StateConflict(f"Execution {execution.pk} did not run in a git repository: {reason}")


def repository_of(execution: Execution) -> git.Repository:
    if not execution.base_commit:
        raise not_in_git(execution, "no start commit was recorded (its workspace had no git commit when it started)")
    try:
        return worktrees.workspace_repository(execution)
    except HubError as exc:
        raise not_in_git(execution, exc.detail) from None


def head_of(execution: Execution, repository: git.Repository) -> tuple[str | None, str, Path | None]:
    """(branch, commit, folder holding the uncommitted work) of the execution's side."""
    folder = worktrees.worktree_folder(execution)
    branch = execution.worktree_branch if execution.worktree_path else execution.base_ref
    commit = git_cleanroom.rev_parse(repository, f"refs/heads/{branch}") if branch else None
    if execution.worktree_path and commit is None:
        raise StateConflict(f"Execution {execution.pk}'s branch {branch} no longer exists.")
    if not execution.worktree_path:
        # In the workspace itself: its checked-out commit, and the workspace's files.
        folder = repository.work_tree
        commit = git_cleanroom.rev_parse(repository, "HEAD")
        branch = git_cleanroom.head_branch(repository)
    assert execution.base_commit is not None
    return branch, commit or execution.base_commit, folder


def execution_diff(*, project_id: int, execution_id: int, path: str | None = None) -> dict[str, Any]:
    execution = execution_for_git(project_id=project_id, execution_id=execution_id)
    if path is not None:
        path = validate_diff_path(path)
    repository = repository_of(execution)
    base = execution.base_commit
    assert base is not None
    branch, head, folder = head_of(execution, repository)
    try:
        with git_cleanroom.clean_room(repository) as room:
            tree = git_cleanroom.snapshot_tree(room, folder=folder, base=head) if folder else head
            files = changed_files(room, base, tree)
            limit = ["--", path] if path is not None else []
            patch = room.run("diff-tree", "-p", *DIFF_OPTIONS, base, tree, *limit).stdout
    except GitRefused as exc:
        raise StateConflict(f"The diff of execution {execution.pk} cannot be computed: {exc.detail}") from None
    if path is not None:
        files = [item for item in files if path in (item["path"], item["old_path"])]
    cap = settings.DIFF_MAX_BYTES
    truncated = len(patch) > cap
    if truncated:
        cut = patch.rfind(b"\n", 0, cap)
        patch = patch[: cut + 1 if cut >= 0 else cap]
    return {
        "base": {"ref": execution.base_ref, "commit": base},
        "head": {"branch": branch, "commit": head},
        "files": files,
        "stats": {
            "files": len(files),
            "additions": sum(item["additions"] for item in files),
            "deletions": sum(item["deletions"] for item in files),
        },
        "patch": patch.decode("utf-8", "replace"),
        "truncated": truncated,
    }


def changed_files(room: git_cleanroom.CleanRoom, base: str, tree: str) -> list[dict[str, Any]]:
    """Each changed path with its status and line counts (``binary``: counted as 0/0)."""
    statuses = _nul_records(room.run("diff-tree", "--name-status", "-z", *DIFF_OPTIONS, base, tree).stdout, "status")
    counts = _nul_records(room.run("diff-tree", "--numstat", "-z", *DIFF_OPTIONS, base, tree).stdout, "numstat")
    files = []
    for (letter, old_path, new_path), (added, deleted) in zip(statuses, counts, strict=False):
        binary = added == "-"
        files.append(
            {
                "path": new_path,
                "old_path": old_path if letter == "R" else None,
                "status": STATUS.get(letter, "modified"),
                "binary": binary,
                "additions": 0 if binary else int(added),
                "deletions": 0 if binary else int(deleted),
            }
        )
    return files


def _nul_records(out: bytes, kind: str) -> list[Any]:
    fields = [field.decode("utf-8", "replace") for field in out.split(b"\0")]
    records: list[Any] = []
    index = 0
    while index < len(fields) and fields[index]:
        head = fields[index]
        if kind == "status":
            letter = head[0]
            if letter in "RC":
                records.append((letter, fields[index + 1], fields[index + 2]))
                index += 3
            else:
                records.append((letter, fields[index + 1], fields[index + 1]))
                index += 2
        else:
            added, deleted, path = head.split("\t", 2)
            index += 1 if path else 3  # a rename: "a\td\t" then old and new paths
            records.append((added, deleted))
    return records
