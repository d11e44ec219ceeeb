"""The desktop contract's timestamp rule for records with a status (runs, executions, step runs)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db.models import DateTimeField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone


def status_timestamps(status: str, *, finished: Collection[str]) -> dict[str, Any]:
    """UPDATE values for a new ``status``: ``running`` fills ``started_at`` only if it is empty
    (in the same statement, so concurrent updates stamp it once); a finished status sets
    ``finished_at`` every time."""
    now = timezone.now()
    if status == "running":
        return {"started_at": Coalesce("started_at", Value(now, output_field=DateTimeField()))}
    if status in finished:
        return {"finished_at": now}
    return {}
