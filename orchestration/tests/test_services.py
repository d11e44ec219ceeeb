from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from orchestration import services
from orchestration.models import Totals, Workspace
from orchestration.selectors import global_state, workspace_state

pytestmark = pytest.mark.django_db


def totals() -> tuple[int, int]:
    row = Totals.objects.get()
    return row.running, row.desired


def test_setting_desired_moves_the_totals_by_the_difference() -> None:
    services.workspace_set_desired(path="/a", desired=3)
    services.workspace_set_desired(path="/b", desired=2)
    state, glob = services.workspace_set_desired(path="/a", desired=5)
    assert (state.desired, glob.desired) == (5, 7)
    assert totals() == (0, 7)


def test_running_and_desired_are_independent() -> None:
    services.workspace_set_desired(path="/a", desired=3)
    state, glob = services.workspace_set_running(path="/a", running=2)
    assert (state.running, state.desired, glob.running, glob.desired) == (2, 3, 2, 3)


def test_every_change_gets_a_larger_version() -> None:
    first, _ = services.workspace_set_desired(path="/a", desired=1)
    second, glob = services.workspace_set_desired(path="/b", desired=1)
    third, _ = services.workspace_set_running(path="/a", running=1)
    assert first.version < second.version < third.version
    assert second.version == glob.version


def test_an_unchanged_value_is_not_a_change() -> None:
    first, _ = services.workspace_set_desired(path="/a", desired=2)
    again, _ = services.workspace_set_desired(path="/a", desired=2)
    assert again.version == first.version


@pytest.mark.parametrize("bad", [-1, 21, "3", 2.5, True, None])
def test_desired_outside_the_range_changes_nothing(bad: object) -> None:
    services.workspace_set_desired(path="/a", desired=1)
    with pytest.raises(ValidationError) as info:
        services.workspace_set_desired(path="/a", desired=bad)
    assert "desired" in info.value.message_dict
    assert workspace_state("/a").desired == 1
    assert totals() == (0, 1)


def test_the_maximum_is_a_setting(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MAX_DESIRED = 50
    state, _ = services.workspace_set_desired(path="/a", desired=50)
    assert state.desired == 50


def test_the_cost_of_an_update_does_not_grow_with_the_number_of_workspaces(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    services.workspace_set_desired(path="/probe", desired=1)
    Workspace.objects.bulk_create([Workspace(path=f"/w/{i}", desired=1) for i in range(2000)])
    with django_assert_max_num_queries(12) as context:
        services.workspace_set_desired(path="/probe", desired=2)
    assert not any("SUM" in q["sql"].upper() for q in context.captured_queries)


def test_prune_removes_only_stale_idle_unpinned_workspaces() -> None:
    for path in ("/stale", "/fresh", "/busy", "/project"):
        services.workspace_set_desired(path=path, desired=2)
    services.workspace_set_running(path="/busy", running=1)
    services.workspace_ensure(path="/project", desired=1)
    old = timezone.now() - timedelta(days=2)
    Workspace.objects.exclude(path="/fresh").update(touched_at=old)

    removed = services.workspaces_prune(older_than=timedelta(hours=24))

    assert removed == ["/stale"]
    assert sorted(Workspace.objects.values_list("path", flat=True)) == ["/busy", "/fresh", "/project"]
    assert global_state().desired == 6


def test_reset_running_zeroes_every_workspace_and_the_totals() -> None:
    services.workspace_set_running(path="/a", running=3)
    services.workspace_set_running(path="/b", running=1)
    assert services.workspaces_reset_running() == 2
    assert totals() == (0, 0)
    assert set(Workspace.objects.values_list("running", flat=True)) == {0}


def test_a_slot_is_reserved_only_below_desired_and_the_hub_cap() -> None:
    services.workspace_set_desired(path="/a", desired=2)
    services.workspace_set_desired(path="/b", desired=5)
    assert services.workspace_reserve_slot(path="/a", global_cap=10)
    assert services.workspace_reserve_slot(path="/a", global_cap=10)
    assert not services.workspace_reserve_slot(path="/a", global_cap=10)
    assert not services.workspace_reserve_slot(path="/b", global_cap=2)
    assert (workspace_state("/a").running, workspace_state("/b").running, totals()[0]) == (2, 0, 2)
    services.workspace_release_slot(path="/a")
    assert (workspace_state("/a").running, totals()[0]) == (1, 1)


def test_lowering_desired_drains_instead_of_stopping() -> None:
    services.workspace_set_desired(path="/a", desired=2)
    services.workspace_reserve_slot(path="/a", global_cap=10)
    services.workspace_reserve_slot(path="/a", global_cap=10)
    services.workspace_set_desired(path="/a", desired=0)
    assert workspace_state("/a").running == 2
    assert not services.workspace_reserve_slot(path="/a", global_cap=10)
