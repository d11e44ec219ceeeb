"""Every change to a workspace's desired or running goes through here.

Each change runs in one transaction: the workspace row is locked, the totals row is moved by the
difference with ``F()`` (O(1), no SUM over workspaces), the hub-wide sequence grows by one and
becomes the version of both events, which go out after commit. Lock order is always workspace
then totals, so concurrent changes never deadlock.

On SQLite a write transaction holds the database's single write lock from its ``BEGIN IMMEDIATE``
(``transaction_mode`` in settings), so nothing can change between a read and a write inside it:
there a change of an existing workspace is two statements (the totals moved by a difference read
in the same statement, then the row stamped), which with the outbox write keeps it at five
queries; PostgreSQL's is four (``BEGIN``, the row locked, the totals and the row in one
statement, ``COMMIT``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from orchestra_site import wakeups
from orchestra_site.db import writes_serialised
from orchestration import events
from orchestration.models import Totals, Workspace
from orchestration.paths import normalize_workspace_id
from orchestration.selectors import GlobalState, WorkspaceState, global_state, workspace_state


def validate_count(value: object, *, field: str, maximum: int | None = None) -> int:
    # bool is an int in Python; a client sending true means a bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError({field: f"must be an integer, got {value!r}."})
    if value < 0 or (maximum is not None and value > maximum):
        bounds = f"from 0 to {maximum}" if maximum is not None else "0 or more"
        raise ValidationError({field: f"must be {bounds}, got {value}."})
    return value


def workspace_set_desired(*, path: str, desired: object) -> tuple[WorkspaceState, GlobalState]:
    path = normalize_workspace_id(path)
    value = validate_count(desired, field="desired", maximum=settings.MAX_DESIRED)
    changed = _change(path=path, desired=value)
    if value:
        wakeups.wake_on_commit(wakeups.CAPACITY)  # a runner with steps waiting for a slot here looks again
    return changed


def workspace_set_running(*, path: str, running: object) -> tuple[WorkspaceState, GlobalState]:
    """An orchestrator outside the hub reports how many agents it runs there.

    The hub's own agents are counted on top (``running = hub_running + reported``), so a report
    never hides them from the runner's ``running < desired`` check.
    """
    path = normalize_workspace_id(path)
    value = validate_count(running, field="running", maximum=settings.MAX_REPORTED_RUNNING)
    changed = _change(path=path, reported=value)
    wakeups.wake_on_commit(wakeups.CAPACITY)  # a lower report frees slots for the hub's agents
    return changed


def workspace_ensure(*, path: str, desired: int) -> WorkspaceState:
    """Make sure a workspace exists and is kept by prune (a project's); new ones get ``desired``."""
    path = normalize_workspace_id(path, field="workspace_path")
    with transaction.atomic():
        if not Workspace.objects.select_for_update().filter(path=path).exists():
            _change(path=path, desired=desired)
        Workspace.objects.filter(path=path).update(pinned=True, touched_at=timezone.now())
    return workspace_state(path)


def workspace_unpin(*, path: str) -> None:
    """No project uses the workspace any more: prune may remove it once it is idle and old."""
    Workspace.objects.filter(path=path).update(pinned=False, touched_at=timezone.now())


def workspace_touch(*, path: str) -> None:
    """A client looked at the workspace: keep it from being pruned. Creates nothing."""
    Workspace.objects.filter(path=path).update(touched_at=timezone.now())


def workspace_reserve_slot(*, path: str, global_cap: int) -> bool:
    """Take one running slot if ``running < desired`` here and the hub is under ``global_cap``.

    Both conditions are checked inside the UPDATE statements, so any number of runners on any
    number of machines never exceed either bound.
    """
    with transaction.atomic():
        if writes_serialised():
            return (
                _serialised_change(
                    path,
                    totals_set="running = running + 1",
                    totals_where=f"running < %s AND EXISTS (SELECT 1 FROM {_WORKSPACES} w WHERE w.path = %s "
                    "AND w.running < w.desired)",
                    totals_params=[global_cap, path],
                    workspace_set="running = running + 1, hub_running = hub_running + 1",
                    workspace_params=[],
                )
                is not None
            )
        now = timezone.now()
        taken = Workspace.objects.filter(path=path, running__lt=F("desired")).update(
            running=F("running") + 1, hub_running=F("hub_running") + 1, touched_at=now
        )
        if not taken:
            return False
        totals = _update_totals(running_delta=1, running_below=global_cap)
        if totals is None:
            transaction.set_rollback(True)
            return False
        _stamp_and_announce(path, totals)
    return True


def workspace_release_slot(*, path: str) -> None:
    """Give back a slot taken by ``workspace_reserve_slot`` (an agent finished)."""
    with transaction.atomic():
        if writes_serialised():
            released_here = _serialised_change(
                path,
                totals_set="running = running - 1",
                totals_where=f"EXISTS (SELECT 1 FROM {_WORKSPACES} w WHERE w.path = %s AND w.hub_running > 0)",
                totals_params=[path],
                workspace_set="running = running - 1, hub_running = hub_running - 1",
                workspace_params=[],
            )
            if released_here is not None:
                return
            # Nothing to release (or no totals row yet): the general path below finds out which.
        released = Workspace.objects.filter(path=path, hub_running__gt=0).update(
            running=F("running") - 1, hub_running=F("hub_running") - 1, touched_at=timezone.now()
        )
        if released:
            _stamp_and_announce(path, _move_totals(running_delta=-1))


def workspaces_prune(*, older_than: timedelta) -> list[str]:
    """Remove workspaces untouched for ``older_than`` that run nothing and belong to no project."""
    cutoff = timezone.now() - older_than
    return _delete(Q(touched_at__lt=cutoff, running=0, pinned=False))


def workspace_delete(*, path: str) -> bool:
    return bool(_delete(Q(path=path)))


def _delete(condition: Q) -> list[str]:
    with transaction.atomic():
        doomed = list(Workspace.objects.select_for_update().filter(condition).values_list("path", "desired", "running"))
        if not doomed:
            return []
        paths = [path for path, _, _ in doomed]
        Workspace.objects.filter(path__in=paths).delete()
        totals = _move_totals(
            desired_delta=-sum(desired for _, desired, _ in doomed),
            running_delta=-sum(running for _, _, running in doomed),
        )
        events.send_global(totals)
        for path in paths:
            events.send_workspace(WorkspaceState(path=path, running=0, desired=0, version=totals.version))
    return paths


def workspaces_reset_running() -> int:
    """Set every workspace's running to 0 (the whole hub restarted: nothing runs any more)."""
    with transaction.atomic():
        paths = list(Workspace.objects.select_for_update().filter(running__gt=0).values_list("path", flat=True))
        Workspace.objects.filter(path__in=paths).update(running=0, hub_running=0)
        totals_recompute()
        totals = global_state()
        Workspace.objects.filter(path__in=paths).update(version=totals.version)
        if paths:
            events.send_global(totals)
            for path in paths:
                events.send_workspace(workspace_state(path))
    return len(paths)


def totals_recompute() -> None:
    """Repair the totals from the workspaces (start-up only: this one is O(workspaces))."""
    sums = Workspace.objects.aggregate(running=Sum("running"), desired=Sum("desired"))
    _totals_row()
    Totals.objects.filter(pk=Totals.SINGLETON_ID).update(
        running=sums["running"] or 0, desired=sums["desired"] or 0, version=F("version") + 1
    )


def _change(
    *, path: str, desired: int | None = None, reported: int | None = None
) -> tuple[WorkspaceState, GlobalState]:
    """Lock the row, then move the totals by the difference and stamp the row: two statements on
    PostgreSQL (``_move_totals_and_stamp``), two on SQLite for an existing workspace, plus the
    outbox write of the events on the in-memory layer."""
    with transaction.atomic():
        if writes_serialised():
            # NULL keeps the column: a desired change leaves running alone, a report leaves desired.
            desired_sql, running_sql = "COALESCE(%s, w.desired)", "COALESCE(w.hub_running + %s, w.running)"
            changed = _serialised_change(
                path,
                totals_set=(
                    f"desired = desired + (SELECT {desired_sql} - w.desired FROM {_WORKSPACES} w WHERE w.path = %s), "
                    f"running = running + (SELECT {running_sql} - w.running FROM {_WORKSPACES} w WHERE w.path = %s)"
                ),
                totals_where=(
                    f"EXISTS (SELECT 1 FROM {_WORKSPACES} w WHERE w.path = %s "
                    f"AND ({desired_sql} <> w.desired OR {running_sql} <> w.running))"
                ),
                totals_params=[desired, path, reported, path, path, desired, reported],
                workspace_set="desired = COALESCE(%s, desired), running = COALESCE(hub_running + %s, running)",
                workspace_params=[desired, reported],
            )
            if changed is not None:
                return changed
            # A new workspace, or nothing changes: the general path below.
        workspace = _locked_workspace(path)
        new_desired = workspace.desired if desired is None else desired
        new_running = workspace.running if reported is None else workspace.hub_running + reported
        desired_delta, running_delta = new_desired - workspace.desired, new_running - workspace.running
        if not desired_delta and not running_delta:
            Workspace.objects.filter(pk=workspace.pk).update(touched_at=timezone.now())
            return WorkspaceState(path, workspace.running, workspace.desired, workspace.version), global_state()
        totals = _move_totals_and_stamp(
            workspace.pk,
            desired=new_desired,
            running=new_running,
            desired_delta=desired_delta,
            running_delta=running_delta,
        )
        state = WorkspaceState(path=path, running=new_running, desired=new_desired, version=totals.version)
        events.send_change(totals, state)
        return state, totals


def _stamp_and_announce(path: str, totals: GlobalState) -> WorkspaceState:
    """Give the workspace the new sequence number and queue both events."""
    table = connection.ops.quote_name(Workspace._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET version = %s WHERE path = %s RETURNING running, desired", [totals.version, path]
        )
        running, desired = cursor.fetchone()
    state = WorkspaceState(path=path, running=running, desired=desired, version=totals.version)
    events.send_change(totals, state)
    return state


_WORKSPACES = connection.ops.quote_name(Workspace._meta.db_table)
_TOTALS = connection.ops.quote_name(Totals._meta.db_table)


def _serialised_change(
    path: str,
    *,
    totals_set: str,
    totals_where: str,
    totals_params: list[Any],
    workspace_set: str,
    workspace_params: list[Any],
) -> tuple[WorkspaceState, GlobalState] | None:
    """Two statements (only where ``writes_serialised()``): move the totals and take the next
    version if ``totals_where`` holds, then apply ``workspace_set`` to the workspace and stamp it.
    None, with nothing written, when the condition does not hold. ``totals_params`` fill the
    placeholders of ``totals_set`` then ``totals_where``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_TOTALS} SET {totals_set}, version = version + 1 WHERE {totals_where} AND id = %s "
            "RETURNING running, desired, version",
            [*totals_params, Totals.SINGLETON_ID],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        totals = GlobalState(running=row[0], desired=row[1], version=row[2])
        cursor.execute(
            f"UPDATE {_WORKSPACES} SET {workspace_set}, version = %s, touched_at = %s WHERE path = %s "
            "RETURNING running, desired",
            [*workspace_params, totals.version, connection.ops.adapt_datetimefield_value(timezone.now()), path],
        )
        running, desired = cursor.fetchone()
    state = WorkspaceState(path=path, running=running, desired=desired, version=totals.version)
    events.send_change(totals, state)
    return state, totals


def _move_totals(*, desired_delta: int = 0, running_delta: int = 0) -> GlobalState:
    """Move the totals and take the next sequence number, in one statement."""
    totals = _update_totals(desired_delta=desired_delta, running_delta=running_delta)
    if totals is None:  # the row is created by a migration; only a wiped table lacks it
        _totals_row()
        totals = _update_totals(desired_delta=desired_delta, running_delta=running_delta)
    assert totals is not None
    return totals


def _move_totals_and_stamp(
    workspace_pk: int, *, desired: int, running: int, desired_delta: int, running_delta: int
) -> GlobalState:
    """Move the totals, take the next sequence number and write the workspace row with it.

    On PostgreSQL that is one statement (the totals' ``UPDATE`` in a ``WITH``), so the totals row,
    which every change of every workspace locks, is held for that statement and the ``COMMIT``
    only: every change waits for the one before it to let go of that row, and one round trip less
    inside it is what lets more of them through a second.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        totals_table = connection.ops.quote_name(Totals._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH t AS (UPDATE {totals_table} SET desired = desired + %s, running = running + %s, "
                f"version = version + 1 WHERE id = %s RETURNING running, desired, version) "
                f"UPDATE {_WORKSPACES} w SET desired = %s, running = %s, version = t.version, touched_at = %s "
                f"FROM t WHERE w.id = %s RETURNING t.running, t.desired, t.version",
                [desired_delta, running_delta, Totals.SINGLETON_ID, desired, running, now, workspace_pk],
            )
            row = cursor.fetchone()
        if row is not None:
            return GlobalState(running=row[0], desired=row[1], version=row[2])
        # No totals row (a wiped table): the general way below creates it.
    totals = _move_totals(desired_delta=desired_delta, running_delta=running_delta)
    Workspace.objects.filter(pk=workspace_pk).update(
        desired=desired, running=running, version=totals.version, touched_at=now
    )
    return totals


def _update_totals(
    *, desired_delta: int = 0, running_delta: int = 0, running_below: int | None = None
) -> GlobalState | None:
    """``UPDATE ... RETURNING`` on the totals row; with ``running_below``, only while the hub runs
    fewer agents than that. None when no row changed."""
    table = connection.ops.quote_name(Totals._meta.db_table)
    cap = "" if running_below is None else " AND running < %s"
    params = [desired_delta, running_delta, Totals.SINGLETON_ID] + ([] if running_below is None else [running_below])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET desired = desired + %s, running = running + %s, version = version + 1 "
            f"WHERE id = %s{cap} RETURNING running, desired, version",
            params,
        )
        row = cursor.fetchone()
    return None if row is None else GlobalState(running=row[0], desired=row[1], version=row[2])


def _totals_row() -> None:
    Totals.objects.bulk_create([Totals(pk=Totals.SINGLETON_ID)], ignore_conflicts=True)


def _locked_workspace(path: str) -> Workspace:
    workspace = Workspace.objects.select_for_update().filter(path=path).first()
    if workspace is None:
        # Two first writers may race to create the row: ignore_conflicts makes both succeed.
        Workspace.objects.bulk_create([Workspace(path=path)], ignore_conflicts=True)
        workspace = Workspace.objects.select_for_update().get(path=path)
    return workspace
