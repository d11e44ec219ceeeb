"""A node's ``node_type``, ``expected_deliverables`` and the ``needs_review`` status, in every
representation: the graph, the create, get and patch answers."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from projects.models import Node
from projects.tests.helpers import node_body

pytestmark = pytest.mark.django_db

PLAN = {"type": "plan", "name": "plan.md", "required": True, "description": ""}


def nodes_url(project: Any) -> str:
    return reverse("node-list", args=[project.pk])


def node_url(node_id: int, project: Any) -> str:
    return reverse("node-detail", args=[project.pk, node_id])


def test_a_node_created_without_them_is_a_task_expecting_nothing(api_client, project):
    created = api_client.post(nodes_url(project), {"title": "a"}, format="json").json()

    assert created == node_body(id=created["id"], project_id=project.pk, title="a")
    assert created["node_type"] == "task"
    assert created["expected_deliverables"] == []


def test_create_stores_both_and_fills_the_schema_defaults(api_client, project):
    sent = {
        "title": "Research",
        "node_type": "milestone",
        "expected_deliverables": [
            {"type": "sources", "name": "sources.md"},
            {"type": "plan", "name": "plan.md", "required": False, "description": "The merged plan"},
        ],
    }

    response = api_client.post(nodes_url(project), sent, format="json")

    assert response.status_code == 201
    expected = [
        {"type": "sources", "name": "sources.md", "required": True, "description": ""},
        {"type": "plan", "name": "plan.md", "required": False, "description": "The merged plan"},
    ]
    assert response.json() == node_body(
        id=response.json()["id"],
        project_id=project.pk,
        title="Research",
        node_type="milestone",
        expected_deliverables=expected,
    )
    assert api_client.get(node_url(response.json()["id"], project)).json() == response.json()
    graph = api_client.get(reverse("project-graph", args=[project.pk])).json()
    assert graph["nodes"] == [response.json()]


def test_create_accepts_null_for_both(api_client, project):
    response = api_client.post(
        nodes_url(project), {"title": "a", "node_type": None, "expected_deliverables": None}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["node_type"], response.json()["expected_deliverables"]) == ("task", [])


def test_patch_null_node_type_stores_null_and_answers_task(api_client, project):
    node_id = api_client.post(nodes_url(project), {"title": "a", "node_type": "hook"}, format="json").json()["id"]

    response = api_client.patch(node_url(node_id, project), {"node_type": None}, format="json")

    assert response.status_code == 200
    assert response.json()["node_type"] == "task"
    assert Node.objects.get(pk=node_id).node_type is None


def test_patch_replaces_or_clears_the_expected_deliverables(api_client, project):
    node_id = api_client.post(
        nodes_url(project), {"title": "a", "expected_deliverables": [PLAN], "node_type": "hook"}, format="json"
    ).json()["id"]
    url = node_url(node_id, project)

    untouched = api_client.patch(url, {"title": "b"}, format="json").json()
    replaced = api_client.patch(url, {"expected_deliverables": [{"type": "code", "name": "main.py"}]}, format="json")
    cleared_by_null = api_client.patch(url, {"expected_deliverables": None}, format="json").json()
    api_client.patch(url, {"expected_deliverables": [PLAN]}, format="json")
    cleared_by_empty = api_client.patch(url, {"expected_deliverables": []}, format="json").json()

    assert (untouched["expected_deliverables"], untouched["node_type"]) == ([PLAN], "hook")
    assert replaced.json()["expected_deliverables"] == [
        {"type": "code", "name": "main.py", "required": True, "description": ""}
    ]
    assert cleared_by_null["expected_deliverables"] == []
    assert cleared_by_empty["expected_deliverables"] == []
    assert Node.objects.get(pk=node_id).expected_deliverables == []


@pytest.mark.parametrize(
    ("sent", "detail"),
    [
        ({"node_type": "diamond"}, "node_type: "),
        ({"node_type": 1}, "node_type: "),
        ({"expected_deliverables": {"type": "plan"}}, "expected_deliverables: Expected a list"),
        ({"expected_deliverables": ["plan.md"]}, "expected_deliverables.0: "),
        ({"expected_deliverables": [{"name": "plan.md"}]}, "expected_deliverables.0.type: This field is required."),
        ({"expected_deliverables": [{"type": "plan"}]}, "expected_deliverables.0.name: This field is required."),
        ({"expected_deliverables": [PLAN, {"type": "essay", "name": "x"}]}, "expected_deliverables.1.type: "),
        (
            {"expected_deliverables": [{**PLAN, "required": "yes"}]},
            "expected_deliverables.0.required: Must be a boolean.",
        ),
        (
            {"expected_deliverables": [{**PLAN, "description": None}]},
            "expected_deliverables.0.description: This field may not be null.",
        ),
        ({"expected_deliverables": [{**PLAN, "path": "/etc"}]}, "expected_deliverables.0.path: Unknown field."),
        ({"status": "reviewing"}, "status: "),
    ],
)
def test_bad_values_are_a_400_naming_the_field_on_create_and_patch(api_client, project, sent, detail):
    existing = api_client.post(nodes_url(project), {"title": "kept"}, format="json").json()

    created = api_client.post(nodes_url(project), {"title": "a", **sent}, format="json")
    patched = api_client.patch(node_url(existing["id"], project), sent, format="json")

    for response in (created, patched):
        assert response.status_code == 400
        assert response.json()["detail"].startswith(detail), response.json()
    assert Node.objects.count() == 1
    assert api_client.get(node_url(existing["id"], project)).json() == existing


def test_a_patch_item_gets_its_defaults_too(api_client, project):
    node_id = api_client.post(nodes_url(project), {"title": "a"}, format="json").json()["id"]

    response = api_client.patch(
        node_url(node_id, project), {"expected_deliverables": [{"type": "plan", "name": "p"}]}, format="json"
    )

    assert response.json()["expected_deliverables"] == [
        {"type": "plan", "name": "p", "required": True, "description": ""}
    ]


def test_needs_review_can_be_set_by_hand(api_client, project):
    created = api_client.post(nodes_url(project), {"title": "a", "status": "needs_review"}, format="json")
    node_id = created.json()["id"]
    api_client.patch(node_url(node_id, project), {"status": "in_progress"}, format="json")

    patched = api_client.patch(node_url(node_id, project), {"status": "needs_review"}, format="json")

    assert created.json()["status"] == "needs_review"
    assert patched.json()["status"] == "needs_review"


def test_odd_stored_values_are_answered_in_the_contract_shape(api_client, project):
    node_id = api_client.post(nodes_url(project), {"title": "a"}, format="json").json()["id"]
    Node.objects.filter(pk=node_id).update(
        node_type=None, expected_deliverables=[{"name": "x", "required": None}, "junk", {"type": "plan"}]
    )

    body = api_client.get(node_url(node_id, project)).json()

    assert body["node_type"] == "task"
    assert body["expected_deliverables"] == [
        {"type": "custom", "name": "x", "required": True, "description": ""},
        {"type": "plan", "name": "", "required": True, "description": ""},
    ]
    Node.objects.filter(pk=node_id).update(expected_deliverables={"not": "a list"})
    assert api_client.get(node_url(node_id, project)).json()["expected_deliverables"] == []
