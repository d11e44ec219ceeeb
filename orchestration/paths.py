"""Workspace ids: any string of 1 to 1024 characters without control characters.

Clients name a workspace by the absolute path of its checkout (``/Users/alice/repo``) or, like the
VSCode extension, by its ``package.json`` name or folder name (``@acme/widgets``, ``my folder``).
An absolute path is normalised so that two spellings of one checkout are one workspace; any other
id is taken exactly as given. Only an absolute path inside the workspace roots can run the hub's
own agents (projects and the runner check that); every other workspace is a counter that
orchestrators outside the hub report to.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

MAX_ID_LENGTH = 1024
_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_absolute_path(workspace_id: str) -> bool:
    """A POSIX absolute path or a Windows drive path (``C:\\src\\repo``, an extension on Windows)."""
    return workspace_id.startswith("/") or bool(_WINDOWS_ABSOLUTE.match(workspace_id))


def normalize_workspace_id(value: object, *, field: str = "workspaceId") -> str:
    """Return the canonical id of a workspace or raise ``ValidationError`` naming ``field``.

    For an absolute path, trailing and repeated separators are dropped; ``.`` and ``..`` segments
    are refused, not resolved (the hub must not guess which checkout was meant). The message
    never repeats the value: it may be a megabyte long.
    """
    if not isinstance(value, str) or not value:
        raise ValidationError({field: "must be a non-empty string."})
    if _CONTROL.search(value):
        raise ValidationError({field: "must not contain control characters."})
    workspace_id = _normalize_path(value, field=field) if is_absolute_path(value) else value
    if len(workspace_id) > MAX_ID_LENGTH:
        raise ValidationError({field: f"must be at most {MAX_ID_LENGTH} characters."})
    return workspace_id


def _normalize_path(value: str, *, field: str) -> str:
    windows = bool(_WINDOWS_ABSOLUTE.match(value))
    separator = "\\" if windows and "\\" in value else "/"
    head, body = (value[:2], value[2:]) if windows else ("", value)
    segments = [segment for segment in re.split(r"[\\/]" if windows else "/", body) if segment]
    if any(segment in (".", "..") for segment in segments):
        raise ValidationError({field: "must not contain '.' or '..' segments."})
    return head + separator + separator.join(segments)
