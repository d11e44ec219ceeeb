from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from orchestration import services
from orchestration.models import Workspace

pytestmark = pytest.mark.django_db


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune_workspaces", *args, stdout=out)
    return out.getvalue()


def test_it_removes_workspaces_older_than_the_ttl_and_says_so(settings) -> None:  # type: ignore[no-untyped-def]
    settings.WORKSPACE_TTL = timedelta(hours=24).total_seconds()
    with time_machine.travel("2026-01-01 00:00Z"):
        services.workspace_set_desired(path="/old", desired=1)
    with time_machine.travel("2026-01-01 20:00Z"):
        services.workspace_set_desired(path="/recent", desired=1)
    with time_machine.travel("2026-01-02 01:00Z"):
        assert prune() == "removed /old\nPruned 1 workspace(s).\n"
    assert list(Workspace.objects.values_list("path", flat=True)) == ["/recent"]


@pytest.mark.parametrize(("age", "kept"), [("30s", []), ("2h", ["/a"]), ("7d", ["/a"])])
def test_older_than_takes_a_duration(age: str, kept: list[str]) -> None:
    with time_machine.travel("2026-01-01 00:00Z"):
        services.workspace_set_desired(path="/a", desired=1)
    with time_machine.travel("2026-01-01 00:01Z"):
        prune("--older-than", age)
    assert list(Workspace.objects.values_list("path", flat=True)) == kept


def test_zero_means_everything_idle() -> None:
    services.workspace_set_desired(path="/a", desired=1)
    assert "Pruned 1 workspace(s)." in prune("--older-than", "0s")


def test_a_bad_duration_is_refused() -> None:
    with pytest.raises(CommandError, match="--older-than"):
        prune("--older-than", "soon")
