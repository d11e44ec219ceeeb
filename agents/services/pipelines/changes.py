"""What the implementing agent changed in its folder, as a diff the critics read.

Before an implementation attempt the hub records a *snapshot* of the folder: each file's blob id.
Afterwards it takes another and diffs the two. No git filter, driver or hook can run: the files
are listed with ``git ls-files`` (tracked and untracked, ``.gitignore`` respected), hashed with
``git hash-object -w --no-filters`` (their bytes as they are, stored so the old text can be read
back), and old text is read with ``git cat-file blob``; the diff itself is made in Python. Every
git call goes through ``agents.git.run_git``. A folder that is not a git repository is hashed in
Python and the critics get the list of changed files without their text.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from pathlib import Path

from agents.git import GitRefused, Repository, repository_open, run_git

MAX_FILES = 20_000
HASH_BATCH = 200
DIFF_MAX_CHARS = 60_000
FILE_MAX_BYTES = 1_000_000
SKIPPED_DIRS = {".git", "node_modules", ".venv", "__pycache__"}

Snapshot = dict[str, str]  # relative path -> blob id (git) or "sha256:<hex>" (plain folder)


def _repository(folder: Path, workspace: Path | None) -> tuple[Repository | None, bool]:
    """The repository to hash ``folder``'s files in, and whether git lists them (its own index).

    An execution's worktree has a ``.git`` *file*, which the hub's git refuses to follow: its files
    are listed in Python and hashed in the workspace's repository (the worktree's parent), named
    explicitly with the worktree as its work tree.
    """
    try:
        return repository_open(folder), True
    except GitRefused:
        pass
    if workspace is None or workspace == folder:
        return None, False
    try:
        main = repository_open(workspace)
    except GitRefused:
        return None, False
    return Repository(work_tree=folder.resolve(), git_dir=main.git_dir), False


def snapshot(folder: Path, workspace: Path | None = None) -> Snapshot:
    """Each file of ``folder`` (the workspace, or a worktree of ``workspace``) and its blob id."""
    repository, listed_by_git = _repository(folder, workspace)
    if repository is None:
        return _plain_snapshot(folder)
    if listed_by_git:
        listed = run_git(repository, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        names = [p for p in listed.stdout.split("\0") if p]
    else:
        names = [path for path in _plain_snapshot(folder, hashed=False)]
    paths = sorted({p for p in names if (folder / p).is_file() and not (folder / p).is_symlink()})[:MAX_FILES]
    found: Snapshot = {}
    for start in range(0, len(paths), HASH_BATCH):
        batch = paths[start : start + HASH_BATCH]
        hashed = run_git(repository, "hash-object", "-w", "--no-filters", "--", *batch)
        found.update(zip(batch, hashed.stdout.split(), strict=False))
    return found


def _plain_snapshot(folder: Path, *, hashed: bool = True) -> Snapshot:
    found: Snapshot = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            found[str(path.relative_to(folder))] = _sha256(path) if hashed else ""
            if len(found) >= MAX_FILES:
                return found
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def diff(folder: Path, before: Snapshot, after: Snapshot, workspace: Path | None = None) -> str:
    """A unified diff from ``before`` to ``after`` (cut at ``DIFF_MAX_CHARS``); "" when nothing changed."""
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if not changed:
        return ""
    repository = None
    if not any(value.startswith("sha256:") for value in [*before.values(), *after.values()]):
        repository, _ = _repository(folder, workspace)
    parts: list[str] = []
    size = 0
    for path in changed:
        if repository is None:
            state = "added" if path not in before else "deleted" if path not in after else "modified"
            part = f"{state}: {path}\n"
        else:
            part = _file_diff(repository, path, before.get(path), after.get(path))
        parts.append(part)
        size += len(part)
        if size > DIFF_MAX_CHARS:
            parts.append(f"\n[… diff cut by the hub at {DIFF_MAX_CHARS} characters; {len(changed)} files changed]\n")
            break
    return "".join(parts)[: DIFF_MAX_CHARS + 200]


def _file_diff(repository: Repository, path: str, old: str | None, new: str | None) -> str:
    old_text = _blob(repository, old)
    new_text = _blob(repository, new)
    if old_text is None or new_text is None:
        return f"Binary or large file {path} changed\n"
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile=f"a/{path}" if old else "/dev/null",
        tofile=f"b/{path}" if new else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _blob(repository: Repository, blob_id: str | None) -> str | None:
    if blob_id is None:
        return ""
    size = run_git(repository, "cat-file", "-s", blob_id, check=False)
    if size.returncode != 0 or int(size.stdout.strip() or 0) > FILE_MAX_BYTES:
        return None
    done = run_git(repository, "cat-file", "blob", blob_id, check=False)
    if done.returncode != 0 or "\0" in done.stdout:
        return None
    return done.stdout
