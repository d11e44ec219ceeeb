"""/projects/{pid}/nodes/{nid}/deliverables: what the node panel lists, and the wired CRUD."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import Execution
from projects import services
from projects.models import Deliverable, HookNode, Node
from projects.tests.helpers import ISO

pytestmark = pytest.mark.django_db


def list_url(node: Node, project_id: int | None = None) -> str:
    return reverse("deliverable-list", args=[project_id or node.project_id, node.pk])


def detail_url(deliverable: Deliverable, *, project_id: int | None = None, node_id: int | None = None) -> str:
    node = deliverable.node
    return reverse("deliverable-detail", args=[project_id or node.project_id, node_id or node.pk, deliverable.pk])


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    return make_node("Research")


def make(node: Node, name: str = "plan.md", **fields: Any) -> Deliverable:
    return services.deliverable_create(node=node, type=fields.pop("type", "plan"), name=name, **fields)


def body(deliverable_id: int, node_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": deliverable_id,
        "node_id": node_id,
        "execution_id": None,
        "type": "plan",
        "name": "plan.md",
        "content": "",
        "status": "pending",
        "validation_errors": [],
        "created_at": ISO,
        "updated_at": ISO,
        **fields,
    }


# --- Create -----------------------------------------------------------------------------------


def test_it_creates_a_deliverable_with_201_and_ignores_node_id_in_the_body(api_client, node, make_node):
    elsewhere = make_node("Other")
    sent = {
        "node_id": elsewhere.pk,
        "type": "sources",
        "name": "sources.md",
        "content": "# Sources",
        "status": "completed",
    }

    response = api_client.post(list_url(node), sent, format="json")

    assert response.status_code == 201
    created = Deliverable.objects.get()
    assert response.json() == body(
        created.pk, node.pk, type="sources", name="sources.md", content="# Sources", status="completed"
    )
    assert created.node_id == node.pk


def test_it_applies_the_defaults_of_a_minimal_body(api_client, node):
    response = api_client.post(list_url(node), {"type": "code", "name": "main.py"}, format="json")

    assert response.status_code == 201
    assert response.json() == body(response.json()["id"], node.pk, type="code", name="main.py")


def test_it_links_an_execution_of_the_same_project_only(api_client, node, project, other_project):
    mine = Execution.objects.create(project=project, node=node, status="running")
    foreign = Execution.objects.create(project=other_project, status="running")

    linked = api_client.post(
        list_url(node), {"type": "plan", "name": "plan.md", "execution_id": mine.pk}, format="json"
    )
    refused = api_client.post(
        list_url(node), {"type": "plan", "name": "plan.md", "execution_id": foreign.pk}, format="json"
    )
    missing = api_client.post(
        list_url(node), {"type": "plan", "name": "plan.md", "execution_id": 999999}, format="json"
    )

    assert linked.status_code == 201
    assert linked.json()["execution_id"] == mine.pk
    assert (refused.status_code, refused.json()["detail"]) == (400, "Execution not found")
    assert (missing.status_code, missing.json()["detail"]) == (400, "Execution not found")
    assert Deliverable.objects.count() == 1


@pytest.mark.parametrize(
    ("sent", "detail_starts"),
    [
        ({"name": "plan.md"}, "type: This field is required."),
        ({"type": "plan"}, "name: This field is required."),
        ({"type": "essay", "name": "plan.md"}, "type: "),
        ({"type": "plan", "name": ""}, "name: "),
        ({"type": "plan", "name": "x" * 256}, "name: Ensure this field has no more than 255 characters."),
        ({"type": "plan", "name": "../secrets"}, "name: "),
        ({"type": "plan", "name": "a/b.md"}, "name: "),
        ({"type": "plan", "name": "a\\b.md"}, "name: "),
        ({"type": "plan", "name": "bell\x07.md"}, "name: "),
        ({"type": "plan", "name": 42}, "name: Must be a string."),
        ({"type": "plan", "name": "p.md", "content": None}, "content: This field may not be null."),
        ({"type": "plan", "name": "p.md", "content": 5}, "content: Must be a string."),
        ({"type": "plan", "name": "p.md", "status": "done"}, "status: "),
        ({"type": "plan", "name": "p.md", "execution_id": "one"}, "execution_id: "),
        ({"type": "plan", "name": "p.md", "execution_id": True}, "execution_id: "),
        ({"type": "plan", "name": "p.md", "owner": "me"}, "owner: Unknown field."),
    ],
)
def test_it_refuses_a_bad_body_with_400_naming_the_field_and_writes_nothing(api_client, node, sent, detail_starts):
    response = api_client.post(list_url(node), sent, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail_starts)
    assert not Deliverable.objects.exists()


def test_a_255_character_name_is_accepted(api_client, node):
    response = api_client.post(list_url(node), {"type": "plan", "name": "x" * 255}, format="json")

    assert response.status_code == 201


def test_content_is_capped_by_the_setting(api_client, node, settings):
    settings.DELIVERABLE_MAX_BYTES = 2048
    at_limit = api_client.post(list_url(node), {"type": "code", "name": "a", "content": "é" * 1024}, format="json")
    over = api_client.post(list_url(node), {"type": "code", "name": "b", "content": "é" * 1025}, format="json")

    assert at_limit.status_code == 201
    assert over.status_code == 400
    assert over.json()["detail"].startswith("content: Must be at most 2048 bytes")
    assert list(Deliverable.objects.values_list("name", flat=True)) == ["a"]


def test_a_deliverable_over_the_default_mebibyte_is_refused(api_client, node):
    response = api_client.post(
        list_url(node), {"type": "code", "name": "big", "content": "x" * (1024 * 1024 + 1)}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("content: ")
    assert not Deliverable.objects.exists()


def test_create_answers_404_for_a_node_outside_the_project(api_client, node, other_project):
    body_sent = {"type": "plan"}  # invalid too: the 404 wins

    wrong_project = api_client.post(list_url(node, project_id=other_project.pk), body_sent, format="json")
    missing_node = api_client.post(
        reverse("deliverable-list", args=[node.project_id, 999999]), body_sent, format="json"
    )

    assert (wrong_project.status_code, wrong_project.json()["detail"]) == (404, "Node not found")
    assert (missing_node.status_code, missing_node.json()["detail"]) == (404, "Node not found")


# --- List and get -----------------------------------------------------------------------------


def test_it_lists_newest_first_with_ties_broken_by_id_descending(api_client, node, make_node):
    same_time = timezone.now()
    older = make(node, "sources.md", type="sources")
    tie_a = make(node, "a.md")
    tie_b = make(node, "b.md")
    Deliverable.objects.filter(pk=older.pk).update(created_at=same_time - timedelta(minutes=1))
    Deliverable.objects.filter(pk__in=[tie_a.pk, tie_b.pk]).update(created_at=same_time)
    make(make_node("Other"), "elsewhere.md")

    response = api_client.get(list_url(node))

    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [tie_b.pk, tie_a.pk, older.pk]
    assert response.json()[0] == body(tie_b.pk, node.pk, name="b.md")


def test_it_filters_by_status_and_an_empty_status_means_all(api_client, node):
    done = make(node, "plan.md", status="completed")
    make(node, "draft.md")

    assert [item["id"] for item in api_client.get(list_url(node), {"status": "completed"}).json()] == [done.pk]
    assert len(api_client.get(list_url(node), {"status": ""}).json()) == 2
    assert api_client.get(list_url(node), {"status": "nonsense"}).json() == []


def test_list_answers_404_node_not_found_for_another_projects_node_or_a_missing_project(
    api_client, node, other_project
):
    for url in (list_url(node, project_id=other_project.pk), reverse("deliverable-list", args=[999999, node.pk])):
        response = api_client.get(url)
        assert (response.status_code, response.json()["detail"]) == (404, "Node not found")


def test_it_gets_one_deliverable(api_client, node):
    deliverable = make(node, content="## Plan", status="completed")

    response = api_client.get(detail_url(deliverable))

    assert response.status_code == 200
    assert response.json() == body(deliverable.pk, node.pk, content="## Plan", status="completed")


def test_get_checks_the_deliverable_under_the_node_then_the_project(api_client, node, make_node, other_project):
    deliverable = make(node)
    sibling = make_node("Sibling")

    under_other_node = api_client.get(detail_url(deliverable, node_id=sibling.pk))
    wrong_project = api_client.get(detail_url(deliverable, project_id=other_project.pk))

    assert (under_other_node.status_code, under_other_node.json()["detail"]) == (404, "Deliverable not found")
    assert (wrong_project.status_code, wrong_project.json()["detail"]) == (404, "Node not found")


# --- Update -----------------------------------------------------------------------------------


def test_patch_changes_only_the_keys_sent_and_null_keeps_a_field(api_client, node):
    deliverable = make(node, content="first")

    response = api_client.patch(
        detail_url(deliverable),
        {"status": "failed", "validation_errors": ["no URLs"], "content": None},
        format="json",
    )

    assert response.status_code == 200
    assert response.json() == body(
        deliverable.pk, node.pk, content="first", status="failed", validation_errors=["no URLs"]
    )
    replaced = api_client.patch(detail_url(deliverable), {"validation_errors": []}, format="json")
    assert replaced.json()["validation_errors"] == []
    assert replaced.json()["status"] == "failed"


def test_patch_sends_no_event_and_refuses_bad_input_without_writing(api_client, node, settings):
    settings.DELIVERABLE_MAX_BYTES = 1024
    deliverable = make(node, content="kept")
    cases = [
        ({"status": "done"}, "status: "),
        ({"validation_errors": "oops"}, "validation_errors: "),
        ({"validation_errors": [1]}, "validation_errors.0: Must be a string."),
        ({"content": "x" * 1025}, "content: Must be at most 1024 bytes"),
        ({"content": "ok", "name": "renamed.md"}, "name: Unknown field."),
    ]
    for sent, detail in cases:
        response = api_client.patch(detail_url(deliverable), sent, format="json")
        assert response.status_code == 400, sent
        assert response.json()["detail"].startswith(detail), response.json()
    deliverable.refresh_from_db()
    assert (deliverable.content, deliverable.status, deliverable.validation_errors) == ("kept", "pending", [])


def test_patch_answers_404s_in_order_before_validating(api_client, node, other_project):
    deliverable = make(node)

    missing = api_client.patch(reverse("deliverable-detail", args=[node.project_id, node.pk, 999999]), {"status": 1})
    wrong_project = api_client.patch(detail_url(deliverable, project_id=other_project.pk), {"status": 1}, format="json")

    assert (missing.status_code, missing.json()["detail"]) == (404, "Deliverable not found")
    assert (wrong_project.status_code, wrong_project.json()["detail"]) == (404, "Node not found")


# --- Delete and cascades ----------------------------------------------------------------------


def test_delete_answers_the_deleted_status_and_checks_the_project(api_client, node, other_project):
    deliverable = make(node)

    wrong_project = api_client.delete(detail_url(deliverable, project_id=other_project.pk))
    response = api_client.delete(detail_url(deliverable))
    again = api_client.delete(detail_url(deliverable))

    assert (wrong_project.status_code, wrong_project.json()["detail"]) == (404, "Node not found")
    assert (response.status_code, response.json()) == (200, {"status": "deleted"})
    assert (again.status_code, again.json()["detail"]) == (404, "Deliverable not found")
    assert not Deliverable.objects.exists()


def test_deleting_a_node_deletes_its_deliverables_and_hook_config(api_client, node, make_node):
    kept = make(make_node("Other"))
    make(node)
    services.deliverable_create(node=node, type="sources", name="sources.md")
    api_client.post(reverse("node-hook", args=[node.project_id, node.pk]), {}, format="json")
    assert HookNode.objects.filter(node=node).exists()

    response = api_client.delete(reverse("node-detail", args=[node.project_id, node.pk]))

    assert response.status_code == 204
    assert list(Deliverable.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not HookNode.objects.exists()


def test_deleting_a_project_with_executions_deliverables_and_hooks_works(api_client, project, node, other_project):
    execution = Execution.objects.create(project=project, node=node, status="running")
    make(node, execution_id=execution.pk, status="completed")
    services.hook_create(project_id=project.pk, node_id=node.pk)
    other_node = services.node_create(project_id=other_project.pk, title="Elsewhere")
    survivor = make(other_node)

    response = api_client.delete(reverse("project-detail", args=[project.pk]))

    assert response.status_code == 204
    assert not Execution.objects.filter(project_id=project.pk).exists()
    assert list(Deliverable.objects.values_list("pk", flat=True)) == [survivor.pk]
    assert not HookNode.objects.exists()


def test_deleting_an_execution_keeps_its_deliverables(node, project):
    execution = Execution.objects.create(project=project, node=node, status="completed")
    deliverable = make(node, execution_id=execution.pk)

    execution.delete()

    deliverable.refresh_from_db()
    assert deliverable.execution_id is None
