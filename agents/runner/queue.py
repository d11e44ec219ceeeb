"""The runner's reads of the work queue: which step runs are ready, which running ones must stop.

Every change to the queue (claim, finish, settle, …) is a compare-and-set in
``agents.services.lifecycle``; this module only looks.
"""

from __future__ import annotations

from django.db.models import Min, Q
from django.utils import timezone

from agents.models import (
    DAG_RUN_ACTIVE,
    EXECUTION_ACTIVE,
    STEP_RUN_FINISHED,
    DagNodeStatus,
    DagRunNode,
    StepRun,
    StepRunStatus,
)
from agents.services.lifecycle import NOT_COMPLETED


def ready_step_runs(*, limit: int = 50, within: Q | None = None) -> list[StepRun]:
    """Pending step runs whose parents all completed, oldest first (they start in order).

    ``within`` narrows them, e.g. to the workspaces under a runner's roots.
    """
    ready = StepRun.objects.filter(
        status=StepRunStatus.PENDING, execution__queued=True, execution__status__in=EXECUTION_ACTIVE
    )
    if within is not None:
        ready = ready.filter(within)
    return list(ready.exclude(parents__status__in=NOT_COMPLETED).select_related("execution").order_by("id")[:limit])


def step_run_ids_to_stop(step_run_ids: list[int], *, runner_id: int) -> set[int]:
    """Which of this runner's running steps must stop: cancelled (skipped), their execution ended,
    or no longer this runner's (a peer reaped it while this runner could not beat)."""
    if not step_run_ids:
        return set()
    stop = Q(status__in=STEP_RUN_FINISHED) | ~Q(execution__status__in=EXECUTION_ACTIVE) | ~Q(runner_id=runner_id)
    return set(StepRun.objects.filter(stop, pk__in=step_run_ids).values_list("pk", flat=True))


def next_retry_in() -> float | None:
    """Seconds until the first DAG node waiting for its retry's backoff may start; None if none waits."""
    now = timezone.now()
    waiting = DagRunNode.objects.filter(
        status=DagNodeStatus.WAITING, not_before__gt=now, dag_run__status__in=DAG_RUN_ACTIVE
    )
    first = waiting.aggregate(first=Min("not_before"))["first"]
    return None if first is None else (first - now).total_seconds()
