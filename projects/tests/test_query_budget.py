"""A node create is a handful of statements, whatever the size of the project."""

from __future__ import annotations

import pytest
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from projects import services
from tests.support.fixtures import database_vendor

pytestmark = pytest.mark.django_db(transaction=True)

# BEGIN, the node inserted only if its project and parents are there (one INSERT ... SELECT), its
# edges, COMMIT; PostgreSQL locks the project row first, SQLite (whose transaction holds the write
# lock) adds the outbox row of the event instead. Without parents there are no edges to insert.
BUDGET = {"postgresql": 5, "sqlite3": 5}
BUDGET_WITHOUT_PARENTS = {"postgresql": 4, "sqlite3": 4}


def test_a_node_create_through_the_api_costs_at_most_five_queries(
    api_client: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    project = services.project_create(name="Budget")
    for index in range(50):
        services.node_create(project_id=project.pk, title=f"n{index}")
    with django_assert_max_num_queries(BUDGET_WITHOUT_PARENTS[database_vendor()]):
        response = api_client.post(f"/projects/{project.pk}/nodes", {"title": "New"}, format="json")
    assert response.status_code == 201
    assert (response.json()["title"], response.json()["parent_ids"]) == ("New", [])


@pytest.mark.parametrize("parent_count", [1, 3])
def test_a_node_create_with_parents_costs_at_most_five_queries(
    api_client: APIClient, django_assert_max_num_queries: DjangoAssertNumQueries, parent_count: int
) -> None:
    project = services.project_create(name="Budget")
    nodes = [services.node_create(project_id=project.pk, title=f"n{index}") for index in range(50)]
    parent_ids = [node.pk for node in nodes[-parent_count:]]
    with django_assert_max_num_queries(BUDGET[database_vendor()]):
        response = api_client.post(
            f"/projects/{project.pk}/nodes", {"title": "New", "parent_ids": parent_ids}, format="json"
        )
    assert response.status_code == 201
    assert response.json()["parent_ids"] == parent_ids
    stored = api_client.get(f"/projects/{project.pk}/nodes/{response.json()['id']}").json()
    assert (stored["title"], stored["parent_ids"]) == ("New", parent_ids)


def test_reading_a_child_looks_at_its_project_only_when_the_child_is_missing(
    api_client: APIClient, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    project = services.project_create(name="Budget")
    parent = services.node_create(project_id=project.pk, title="parent")
    node = services.node_create(project_id=project.pk, title="child", parent_ids=[parent.pk])
    run = services.run_create(project_id=project.pk, node_id=node.pk, agent_type="claude", prompt="p")

    with django_assert_num_queries(2):  # the node, its parents
        body = api_client.get(f"/projects/{project.pk}/nodes/{node.pk}").json()
    assert body["parent_ids"] == [parent.pk]
    with django_assert_num_queries(1):
        assert api_client.get(f"/projects/{project.pk}/runs/{run.pk}").json()["id"] == run.pk
    with django_assert_num_queries(2):  # the project exists, its runs
        assert [item["id"] for item in api_client.get(f"/projects/{project.pk}/runs").json()] == [run.pk]
    with django_assert_num_queries(2):  # no such node here: is it the project that is missing?
        assert api_client.get(f"/projects/{project.pk}/nodes/999").json()["detail"] == "Node not found"
