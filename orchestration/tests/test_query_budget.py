"""A desired change is a handful of statements, whatever the number of workspaces.

Both databases: ``BEGIN``, lock and read the row, move the totals (``RETURNING`` the new
version), stamp the row, ``COMMIT``. SQLite adds the two outbox rows that carry the events to
other processes of the embedded deployment.
"""

from __future__ import annotations

import pytest
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from orchestration import services
from tests.support.fixtures import database_vendor

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = {"postgresql": 5, "sqlite3": 7}


def test_a_desired_change_through_the_api_costs_a_fixed_number_of_queries(
    api_client: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    for index in range(50):
        services.workspace_set_desired(path=f"/srv/other-{index}", desired=1)
    services.workspace_set_desired(path="/srv/repo", desired=1)
    with django_assert_max_num_queries(BUDGET[database_vendor()]):
        response = api_client.put("/api/orchestration/workspace/%2Fsrv%2Frepo/desired", {"desired": 3}, format="json")
    assert response.json()["workspace"]["desired"] == 3
    assert response.json()["global"]["desired"] == 53


def test_a_reserved_slot_costs_as_much_as_a_desired_change(django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    services.workspace_set_desired(path="/srv/repo", desired=2)
    with django_assert_max_num_queries(BUDGET[database_vendor()]):
        assert services.workspace_reserve_slot(path="/srv/repo", global_cap=8)
