"""Where a project's agents work: a folder on the hub machine inside the allowed roots."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from orchestra_site.exceptions import InvalidInput


def default_workspace_path(project_id: int) -> Path:
    return (Path(settings.WORKSPACES_DIR) / f"project-{project_id}").resolve()


def validate_workspace_path(value: str) -> Path:
    """The resolved absolute path, or ``InvalidInput`` naming ``workspace_path``.

    Symlinks and ``..`` are resolved *before* the check, so a link inside a root that points
    outside it is refused.
    """
    if "\x00" in value or not value.strip():
        raise InvalidInput("workspace_path: must be a non-empty absolute path.")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise InvalidInput(f"workspace_path: must be an absolute path, got {value!r}.")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:
        raise InvalidInput(f"workspace_path: cannot be resolved ({exc}).") from None
    roots = [Path(root).resolve() for root in settings.WORKSPACE_ROOTS]
    if not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise InvalidInput(f"workspace_path: {resolved} is outside the allowed workspace roots ({allowed}).")
    return resolved


def make_workspace_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"workspace_path: cannot create {path} ({exc.strerror or exc}).") from None
