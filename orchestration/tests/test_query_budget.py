"""A desired change is a handful of statements, whatever the number of workspaces.

PostgreSQL: ``BEGIN``, lock and read the row, move the totals (``RETURNING`` the new version),
stamp the row, ``COMMIT``. SQLite, whose transactions hold the write lock from ``BEGIN``: move
the totals by a difference read in the same statement, stamp the row, and one INSERT of the two
outbox rows that carry the events to other processes of the embedded deployment.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from orchestra_site.models import OutboxEvent
from orchestra_site.realtime.events import GLOBAL_GROUP, layer_is_shared, workspace_group
from orchestration import services

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = 5


def test_a_desired_change_through_the_api_costs_a_fixed_number_of_queries(
    api_client: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    for index in range(50):
        services.workspace_set_desired(path=f"/srv/other-{index}", desired=1)
    services.workspace_set_desired(path="/srv/repo", desired=1)
    with django_assert_max_num_queries(BUDGET):
        response = api_client.put("/api/orchestration/workspace/%2Fsrv%2Frepo/desired", {"desired": 3}, format="json")
    assert response.json()["workspace"]["desired"] == 3
    assert response.json()["global"]["desired"] == 53


def test_a_reserved_slot_costs_as_much_as_a_desired_change(
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    services.workspace_set_desired(path="/srv/repo", desired=2)
    with django_assert_max_num_queries(BUDGET):
        assert services.workspace_reserve_slot(path="/srv/repo", global_cap=8)


def test_a_running_report_and_a_released_slot_cost_as_much_as_a_desired_change(
    api_client: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    services.workspace_set_desired(path="/srv/repo", desired=2)
    assert services.workspace_reserve_slot(path="/srv/repo", global_cap=8)
    with django_assert_max_num_queries(BUDGET):
        response = api_client.put("/api/orchestration/workspace/%2Fsrv%2Frepo/running", {"running": 4}, format="json")
    assert response.json()["workspace"]["running"] == 5  # the hub's own agent counts on top
    with django_assert_max_num_queries(BUDGET):
        services.workspace_release_slot(path="/srv/repo")
    workspace, totals = services.workspace_set_running(path="/srv/repo", running=4)
    assert (workspace.running, workspace.desired, totals.running, totals.desired) == (4, 2, 4, 2)


@pytest.mark.skipif(layer_is_shared(), reason="the outbox is the in-memory layer's")
def test_the_two_events_of_a_change_are_one_outbox_write_in_order(
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    services.workspace_set_desired(path="/srv/repo", desired=1)
    start = OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with CaptureQueriesContext(connection) as queries:
        workspace, totals = services.workspace_set_desired(path="/srv/repo", desired=3)
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and OutboxEvent._meta.db_table in inserts[0]
    rows = list(OutboxEvent.objects.filter(id__gt=start).values_list("group", "text", "version"))
    assert [(group, json.loads(text)["event"], version) for group, text, version in rows] == [
        (GLOBAL_GROUP, "orchestration.global", totals.version),
        (workspace_group("/srv/repo"), "orchestration.workspace", workspace.version),
    ]
    assert json.loads(rows[1][1])["data"]["desired"] == 3 and json.loads(rows[0][1])["data"]["desired"] == 3
