"""Every change to a workspace's desired or running goes through here.

Each change runs in one transaction: the workspace row is locked, the totals row is moved by the
difference with ``F()`` (O(1), no SUM over workspaces), the hub-wide sequence grows by one and
becomes the version of both events, which go out after commit. Lock order is always workspace
then totals, so concurrent changes never deadlock.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

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
    return _change(path=path, desired=value)


def workspace_set_running(*, path: str, running: object) -> tuple[WorkspaceState, GlobalState]:
    path = normalize_workspace_id(path)
    value = validate_count(running, field="running")
    return _change(path=path, running=value)


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
        now = timezone.now()
        taken = Workspace.objects.filter(path=path, running__lt=F("desired")).update(
            running=F("running") + 1, touched_at=now
        )
        if not taken:
            return False
        under_cap = Totals.objects.filter(pk=Totals.SINGLETON_ID, running__lt=global_cap).update(
            running=F("running") + 1, version=F("version") + 1
        )
        if not under_cap:
            transaction.set_rollback(True)
            return False
        _after_change(path)
    return True


def workspace_release_slot(*, path: str) -> None:
    """Give back a slot taken by ``workspace_reserve_slot`` (an agent finished)."""
    with transaction.atomic():
        released = Workspace.objects.filter(path=path, running__gt=0).update(
            running=F("running") - 1, touched_at=timezone.now()
        )
        if released:
            Totals.objects.filter(pk=Totals.SINGLETON_ID).update(running=F("running") - 1, version=F("version") + 1)
            _after_change(path)


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
        _move_totals(
            desired_delta=-sum(desired for _, desired, _ in doomed),
            running_delta=-sum(running for _, _, running in doomed),
        )
        totals = global_state()
        events.send_global(totals)
        for path in paths:
            events.send_workspace(WorkspaceState(path=path, running=0, desired=0, version=totals.version))
    return paths


def workspaces_reset_running() -> int:
    """Set every workspace's running to 0 (the whole hub restarted: nothing runs any more)."""
    with transaction.atomic():
        paths = list(Workspace.objects.select_for_update().filter(running__gt=0).values_list("path", flat=True))
        Workspace.objects.filter(path__in=paths).update(running=0)
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


def _change(*, path: str, desired: int | None = None, running: int | None = None) -> tuple[WorkspaceState, GlobalState]:
    with transaction.atomic():
        workspace = _locked_workspace(path)
        new_desired = workspace.desired if desired is None else desired
        new_running = workspace.running if running is None else running
        desired_delta, running_delta = new_desired - workspace.desired, new_running - workspace.running
        if not desired_delta and not running_delta:
            Workspace.objects.filter(pk=workspace.pk).update(touched_at=timezone.now())
            return workspace_state(path), global_state()
        _move_totals(desired_delta=desired_delta, running_delta=running_delta)
        Workspace.objects.filter(pk=workspace.pk).update(
            desired=new_desired, running=new_running, touched_at=timezone.now()
        )
        return _after_change(path)


def _after_change(path: str) -> tuple[WorkspaceState, GlobalState]:
    """Stamp the workspace with the new sequence number and queue both events."""
    totals = global_state()
    Workspace.objects.filter(path=path).update(version=totals.version)
    state = workspace_state(path)
    events.send_global(totals)
    events.send_workspace(state)
    return state, totals


def _move_totals(*, desired_delta: int, running_delta: int) -> None:
    moved = Totals.objects.filter(pk=Totals.SINGLETON_ID).update(
        desired=F("desired") + desired_delta, running=F("running") + running_delta, version=F("version") + 1
    )
    if not moved:
        _totals_row()
        _move_totals(desired_delta=desired_delta, running_delta=running_delta)


def _totals_row() -> None:
    Totals.objects.bulk_create([Totals(pk=Totals.SINGLETON_ID)], ignore_conflicts=True)


def _locked_workspace(path: str) -> Workspace:
    workspace = Workspace.objects.select_for_update().filter(path=path).first()
    if workspace is None:
        # Two first writers may race to create the row: ignore_conflicts makes both succeed.
        Workspace.objects.bulk_create([Workspace(path=path)], ignore_conflicts=True)
        workspace = Workspace.objects.select_for_update().get(path=path)
    return workspace
