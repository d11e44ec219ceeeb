"""``model_update`` and ``update_rows``: one UPDATE of the changed fields, ``updated_at`` stamped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestra_site.models_update import RowChanged, model_update, update_rows
from orchestration.models import Workspace
from projects.models import Task

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - timedelta(days=3)


@pytest.fixture
def task() -> Task:
    return Task.objects.create(title="Old", priority=1, created_at=LONG_AGO, updated_at=LONG_AGO)


def test_it_writes_only_allowed_changed_fields_in_one_update_and_stamps_updated_at(task: Task) -> None:
    Task.objects.filter(pk=task.pk).update(description="written by someone else")
    with CaptureQueriesContext(connection) as queries:
        task, changed = model_update(
            task, data={"title": "New", "priority": 1, "completed": True}, fields=("title", "priority")
        )
    assert changed is True
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert '"title"' in updates[0] and '"updated_at"' in updates[0]
    assert '"priority"' not in updates[0] and '"completed"' not in updates[0]
    # The instance is read again: it shows what the row holds now, not only what was written.
    assert (task.title, task.completed, task.description) == ("New", False, "written by someone else")
    assert task.updated_at > LONG_AGO
    assert Task.objects.get(pk=task.pk).updated_at == task.updated_at


def test_an_update_that_changes_no_value_still_stamps_updated_at_and_says_so(task: Task) -> None:
    # A PATCH with the values a row already holds is still a write the client sees in updated_at.
    with CaptureQueriesContext(connection) as queries:
        same, changed = model_update(task, data={"title": "Old", "priority": 1}, fields=("title", "priority"))
    assert (same, changed) == (task, False)
    updates = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")]
    assert len(updates) == 1 and '"title"' not in updates[0] and '"updated_at"' in updates[0]
    assert Task.objects.get(pk=task.pk).updated_at > LONG_AGO


def test_a_model_without_updated_at_and_nothing_changed_is_not_written() -> None:
    workspace = Workspace.objects.create(path="/srv/same", desired=2)
    with CaptureQueriesContext(connection) as queries:
        same, changed = model_update(workspace, data={"desired": 2}, fields=("desired",))
    assert (same, changed) == (workspace, False)
    assert queries.captured_queries == []


def test_an_expression_always_counts_as_a_change(task: Task) -> None:
    task, changed = model_update(task, data={"priority": F("priority") + 1}, fields=("priority",))
    assert changed is True
    assert task.priority == 2


def test_expect_makes_it_a_compare_and_set(task: Task) -> None:
    stale = Task.objects.get(pk=task.pk)
    model_update(task, data={"title": "First"}, fields=("title",), expect={"title": "Old"})
    with pytest.raises(RowChanged):
        model_update(stale, data={"title": "Second"}, fields=("title",), expect={"title": stale.title})
    assert Task.objects.get(pk=task.pk).title == "First"


def test_a_model_without_updated_at_gets_no_stamp() -> None:
    workspace = Workspace.objects.create(path="/tmp/ws-model-update")
    workspace, changed = model_update(workspace, data={"desired": 3}, fields=("desired",))
    assert changed and workspace.desired == 3
    assert update_rows(Workspace.objects.filter(pk=workspace.pk, desired=3), desired=4) == 1


def test_update_rows_stamps_updated_at_and_respects_the_condition(task: Task) -> None:
    now = timezone.now()
    assert update_rows(Task.objects.filter(pk=task.pk, title="Other"), now=now, title="X") == 0
    assert update_rows(Task.objects.filter(pk=task.pk, title="Old"), now=now, title="X") == 1
    assert Task.objects.filter(pk=task.pk).values_list("title", "updated_at").get() == ("X", now)
