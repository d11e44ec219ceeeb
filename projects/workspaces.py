"""Where agents work: folders on the hub machine inside the allowed roots.

``confined_path`` is the one rule for every folder an agent can be given as its working
directory (a project's workspace, an execution's worktree). It is applied when the folder is
written (API, admin, commands, all through the services) and again when an agent starts, after
symlinks are resolved, so a folder that became a link to somewhere else is refused too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from orchestra_site.api.exceptions import InvalidInput
from projects.models import Project


def default_workspace_path(project_id: int) -> Path:
    return (Path(settings.WORKSPACES_DIR) / f"project-{project_id}").resolve()


def confined_path(value: object, *, field: str, roots: Iterable[Path | str], setting: str) -> Path:
    """The resolved absolute path of ``value`` inside one of ``roots``, or ``InvalidInput`` naming ``field``.

    ``..`` and symlinks are resolved *before* the check, so neither a relative trick nor a link
    inside a root that points outside it gets through.
    """
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise InvalidInput(f"{field}: must be a non-empty absolute path.")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise InvalidInput(f"{field}: must be an absolute path, got {value!r}.")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:
        raise InvalidInput(f"{field}: cannot be resolved ({exc}).") from None
    resolved_roots = [Path(root).resolve() for root in roots]
    if not any(resolved.is_relative_to(root) for root in resolved_roots):
        allowed = ", ".join(str(root) for root in resolved_roots)
        raise InvalidInput(f"{field}: {resolved} is outside {setting} ({allowed}).")
    return resolved


def hub_folders() -> list[Path]:
    """Folders that hold the hub itself or every project: no workspace may contain them."""
    return [
        Path(folder).resolve()
        for folder in (settings.BASE_DIR, settings.DATA_DIR, settings.WORKSPACES_DIR, settings.WORKTREES_DIR)
    ]


def validate_workspace_path(value: object, *, project_id: int | None, field: str = "workspace_path") -> Path:
    """A project's workspace: inside ``ORCHESTRA_WORKSPACE_ROOTS``, and holding neither the hub's
    own folders (its code, data, the workspaces and worktrees folders) nor another project's
    workspace, so one project's agents never see the hub or the other projects. ``project_id``
    is the project whose workspace it is (None for a new one)."""
    resolved = confined_path(value, field=field, roots=settings.WORKSPACE_ROOTS, setting="ORCHESTRA_WORKSPACE_ROOTS")
    for folder in hub_folders():
        if folder.is_relative_to(resolved):
            raise InvalidInput(f"{field}: {resolved} holds the hub's own folder {folder}; choose a folder inside it.")
    others = Project.objects.all() if project_id is None else Project.objects.exclude(pk=project_id)
    for other in others.exclude(workspace_path="").values_list("workspace_path", flat=True):
        other_path = Path(other)
        if other_path == resolved:
            raise InvalidInput(f"{field}: {resolved} is already another project's workspace.")
        if other_path.is_relative_to(resolved):
            raise InvalidInput(f"{field}: {resolved} holds another project's workspace ({other_path}).")
        if resolved.is_relative_to(other_path):
            raise InvalidInput(f"{field}: {resolved} is inside another project's workspace ({other_path}).")
    return resolved


def validate_worktree_path(value: object, *, field: str = "worktree_path") -> Path:
    """An execution's git worktree: a folder inside ``ORCHESTRA_WORKTREES_DIR`` (not the folder itself)."""
    resolved = confined_path(value, field=field, roots=[settings.WORKTREES_DIR], setting="ORCHESTRA_WORKTREES_DIR")
    if resolved == Path(settings.WORKTREES_DIR).resolve():
        raise InvalidInput(f"{field}: must be a folder inside ORCHESTRA_WORKTREES_DIR, not the folder itself.")
    return resolved


@contextmanager
def pinned_folder(path: Path) -> Iterator[Path]:
    """The validated, resolved folder ``path``, opened, as a path that names the opened folder
    itself (``/proc/self/fd/N``) while the block runs: start the agent there.

    A check by path and a start by path are two lookups, and a folder on the path swapped for a
    link between them would put the agent somewhere else. Here the folder is opened without
    following a final link, and the real path of what was opened must be the one that was
    checked; the agent's ``chdir`` then goes through the open descriptor (inherited by the child
    until it execs), so what happens to the path afterwards no longer matters.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidInput(f"The agent's folder {path} cannot be opened as a folder ({exc.strerror or exc}).") from None
    try:
        opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if opened != path:
            raise InvalidInput(f"The agent's folder {path} changed as the agent started: it led to {opened}.")
        yield Path(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def make_workspace_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"workspace_path: cannot create {path} ({exc.strerror or exc}).") from None
