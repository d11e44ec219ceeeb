"""Domain exceptions the services raise; ``orchestra_site.api.errors`` turns them into responses.

Services never import DRF: they raise these (or Django's ``ValidationError``), and the one
exception handler maps them to ``{"detail": "..."}`` with the right status.
"""

from __future__ import annotations

from typing import Any


def error_body(detail: str, **extra: Any) -> dict[str, Any]:
    """The body of every error answer: the same text under ``detail`` and ``message`` (what
    NestJS-style clients such as the VSCode extension read)."""
    return {"detail": detail, "message": detail, **extra}


class HubError(Exception):
    """Base class; ``status`` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(HubError):
    """The request names something that cannot be (a foreign id, a cycle, a bad path)."""

    status = 400


class NotFound(HubError):
    status = 404


class Conflict(HubError):
    """The request is valid but the object's state forbids it (e.g. already finished)."""

    status = 400


class StateConflict(HubError):
    """409: the request is valid but what it acts on cannot take it now (a conflicting merge, a
    branch that moved, a running execution); ``extra`` keys join ``detail`` in the body."""

    status = 409

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class TooBusy(HubError):
    """The hub runs as many of these as it allows at once; ``retry_after`` seconds is a fair wait."""

    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailable(HubError):
    """Something the hub needs for this request cannot run right now (e.g. no planner agent)."""

    status = 503
