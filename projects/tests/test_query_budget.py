"""A node create is a handful of statements, whatever the size of the project."""

from __future__ import annotations

import pytest
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from projects import services
from tests.support.fixtures import database_vendor

pytestmark = pytest.mark.django_db(transaction=True)

# BEGIN, lock the project, insert the node, COMMIT; SQLite adds the outbox row of the event.
BUDGET = {"postgresql": 4, "sqlite3": 5}


def test_a_node_create_through_the_api_costs_at_most_five_queries(
    api_client: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    project = services.project_create(name="Budget")
    for index in range(50):
        services.node_create(project_id=project.pk, title=f"n{index}")
    with django_assert_max_num_queries(BUDGET[database_vendor()]):
        response = api_client.post(f"/projects/{project.pk}/nodes", {"title": "New"}, format="json")
    assert response.status_code == 201
    assert (response.json()["title"], response.json()["parent_ids"]) == ("New", [])
