"""3. Cost of one orchestration update with 10 and with 100 000 workspaces (in-process)."""

from __future__ import annotations

import statistics
import time

from bench.inproc import django_ready
from bench.report import Section, Table

COUNTS = (10, 100_000)
UPDATES = 1000
WARM_UP = 100


def prepare(count: int) -> list[str]:
    """Exactly ``count`` workspaces, each with desired 1, and the Totals row to match."""
    from orchestration.models import Totals, Workspace

    Workspace.objects.all().delete()
    paths = [f"/bench/cost/{count}/{i:06d}" for i in range(count)]
    for start in range(0, count, 5000):
        Workspace.objects.bulk_create(Workspace(path=path, desired=1) for path in paths[start : start + 5000])
    Totals.objects.update_or_create(pk=Totals.SINGLETON_ID, defaults={"desired": count, "running": 0, "version": 1})
    return paths


def measure(paths: list[str]) -> tuple[list[float], list[int]]:
    """Update ``paths[k % n]`` to 2, then back to 1 on the next pass: every call is a real change."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orchestration.services import workspace_set_desired

    n = len(paths)
    stride = 7919  # a prime: spreads the updates over the whole table, not one page
    durations: list[float] = []
    queries: list[int] = []
    for k in range(WARM_UP + UPDATES):
        path, value = paths[(k * stride) % n], 2 if (k // n) % 2 == 0 else 1
        connection.queries_log.clear()  # the log keeps 9000 queries; a full one would count 0
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            workspace_set_desired(path=path, desired=value)
            elapsed = time.perf_counter() - started
        if k >= WARM_UP:
            durations.append(elapsed)
            queries.append(len(captured.captured_queries))
    return durations, queries


def timed_without_capture(paths: list[str]) -> float:
    """The same kind of updates without the query capture (which costs a little per query)."""
    from orchestration.services import workspace_set_desired

    n = len(paths)
    started = time.perf_counter()
    for k in range(UPDATES):
        workspace_set_desired(path=paths[k % n], desired=3 + (k // n) % 2)
    return (time.perf_counter() - started) / UPDATES


def run() -> Section:
    django_ready()
    section = Section(
        key="update_cost",
        title="3. Cost of one orchestration update",
        target="the cost per update does not grow with the number of workspaces (10 → 100 000)",
    )
    table = Table(
        ["Workspaces", "Updates", "mean µs", "median µs", "p99 µs", "mean µs (no capture)", "Queries per update"]
    )
    means: list[float] = []
    query_counts: set[int] = set()
    for count in COUNTS:
        paths = prepare(count)
        durations, queries = measure(paths)
        plain = timed_without_capture(paths)
        ordered = sorted(durations)
        means.append(plain)
        query_counts.update(queries)
        table.add(
            f"{count:,}",
            UPDATES,
            f"{statistics.fmean(durations) * 1e6:.0f}",
            f"{statistics.median(durations) * 1e6:.0f}",
            f"{ordered[int(len(ordered) * 0.99) - 1] * 1e6:.0f}",
            f"{plain * 1e6:.0f}",
            "/".join(str(q) for q in sorted(set(queries))),
        )
    section.tables.append(table)
    section.met = len(query_counts) == 1 and means[-1] < means[0] * 1.5
    section.notes += [
        "`orchestration.services.workspace_set_desired` called in the bench process (Django set up, SQLite "
        "in WAL mode in a temp dir, events delivered on an event loop in a thread as in serve); the "
        "workspaces are bulk-inserted and the Totals row set to match.",
        "Queries per update counted with `CaptureQueriesContext` (BEGIN/COMMIT included where Django "
        "issues them as queries). Met when the count is the same and the mean at 100 000 is < 1.5 times the "
        "mean at 10.",
    ]
    return section
