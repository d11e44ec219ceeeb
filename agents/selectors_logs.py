"""Reading an execution's stored log, page by page."""

from __future__ import annotations

from typing import Any, TypedDict

from agents.models import Execution, ExecutionLogEntry

PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000


class LogEntryData(TypedDict):
    seq: int
    kind: str
    step_run_id: int | None
    data: dict[str, Any]
    created_at: str


class LogPageData(TypedDict):
    execution_id: int
    status: str
    entries: list[LogEntryData]
    next_after: int
    has_more: bool


def log_entries(*, execution_id: int, after: int, limit: int = PAGE_SIZE) -> list[ExecutionLogEntry]:
    rows = ExecutionLogEntry.objects.filter(execution_id=execution_id, seq__gt=after).order_by("seq")
    return list(rows[:limit])


def log_page(*, execution: Execution, after: int, limit: int = PAGE_SIZE) -> LogPageData:
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    entries = log_entries(execution_id=execution.pk, after=after, limit=limit + 1)  # one more: has_more
    page = entries[:limit]
    return {
        "execution_id": execution.pk,
        "status": execution.status,
        "entries": [
            {
                "seq": entry.seq,
                "kind": entry.kind,
                "step_run_id": entry.step_run_id,
                "data": entry.data,
                "created_at": entry.created_at.isoformat(),
            }
            for entry in page
        ],
        "next_after": page[-1].seq if page else after,
        "has_more": len(entries) > limit,
    }


def terminal_frame(entry: ExecutionLogEntry) -> dict[str, Any]:
    return {**entry.data, "seq": entry.seq}
