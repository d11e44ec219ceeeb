"""Workspace ids are absolute paths, compared as given after a small normalisation."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

MAX_PATH_LENGTH = 1024
_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_workspace_path(value: object, *, field: str = "workspaceId") -> str:
    """Return the canonical id of a workspace path or raise ``ValidationError`` naming ``field``.

    Trailing slashes and repeated slashes are dropped; ``.`` and ``..`` segments are refused, not
    resolved (the hub must not guess which checkout was meant). POSIX absolute paths and Windows
    drive paths (``C:\\src\\repo``, for a VSCode extension on Windows) are accepted.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError({field: "must be a non-empty string holding an absolute path."})
    if _CONTROL.search(value):
        raise ValidationError({field: "must not contain control characters."})
    windows = bool(_WINDOWS_ABSOLUTE.match(value))
    if not value.startswith("/") and not windows:
        raise ValidationError({field: f"must be an absolute path, got {value!r}."})
    separator = "\\" if windows and "\\" in value else "/"
    head, body = (value[:2], value[2:]) if windows else ("", value)
    segments = [segment for segment in re.split(r"[\\/]" if windows else "/", body) if segment]
    if any(segment in (".", "..") for segment in segments):
        raise ValidationError({field: "must not contain '.' or '..' segments."})
    path = head + separator + separator.join(segments)
    if len(path) > MAX_PATH_LENGTH:
        raise ValidationError({field: f"must be at most {MAX_PATH_LENGTH} characters."})
    return path
