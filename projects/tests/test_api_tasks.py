from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from projects import services
from projects.models import Task
from projects.tests.helpers import ISO

pytestmark = pytest.mark.django_db


def task_url(task):
    return reverse("task-detail", args=[task.pk])


def test_it_creates_a_task_with_defaults(api_client):
    response = api_client.post(reverse("task-list"), {"title": "Write docs"}, format="json")

    assert response.status_code == 201
    assert response.json() == {
        "id": Task.objects.get().pk,
        "project_id": None,
        "node_id": None,
        "title": "Write docs",
        "description": None,
        "completed": False,
        "priority": 0,
        "due_date": None,
        "created_at": ISO,
        "updated_at": ISO,
    }


def test_it_creates_a_task_linked_to_a_project_and_its_node(api_client, make_node):
    node = make_node("n")
    body = {
        "title": "t",
        "description": "d",
        "completed": True,
        "priority": -3,
        "due_date": "2025-03-01T14:07:22+02:00",
        "project_id": node.project_id,
        "node_id": node.pk,
    }

    response = api_client.post(reverse("task-list"), body, format="json")

    assert response.status_code == 201
    assert response.json() == {
        **body,
        "id": Task.objects.get().pk,
        "due_date": "2025-03-01T12:07:22Z",
        "created_at": ISO,
        "updated_at": ISO,
    }


@pytest.mark.parametrize(
    ("due_date", "stored"),
    [
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T14:07:22", datetime(2025, 3, 1, 14, 7, 22, tzinfo=UTC)),
        ("2025-03-01T14:07:22.5Z", datetime(2025, 3, 1, 14, 7, 22, 500000, tzinfo=UTC)),
    ],
)
def test_it_accepts_due_dates_with_or_without_offset_or_a_bare_date(api_client, due_date, stored):
    response = api_client.post(reverse("task-list"), {"title": "t", "due_date": due_date}, format="json")

    assert response.status_code == 201
    assert Task.objects.get().due_date == stored


def test_it_does_not_fill_the_project_from_the_node(api_client, make_node):
    node = make_node("n")

    response = api_client.post(reverse("task-list"), {"title": "t", "node_id": node.pk}, format="json")

    assert response.status_code == 201
    assert (response.json()["project_id"], response.json()["node_id"]) == (None, node.pk)


@pytest.mark.parametrize(
    ("links", "detail"),
    [
        ({"project_id": 999}, "Project not found"),
        ({"node_id": 999}, "Node not found"),
        ("foreign", "Node does not belong to project"),
    ],
)
def test_it_refuses_links_to_missing_or_mismatched_rows(api_client, make_node, other_project, links, detail):
    node = make_node("n")
    if links == "foreign":
        links = {"project_id": other_project.pk, "node_id": node.pk}

    response = api_client.post(reverse("task-list"), {"title": "t", **links}, format="json")

    assert (response.status_code, response.json()) == (400, {"detail": detail, "message": detail})
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "title: This field is required."),
        ({"title": "x" * 256}, "title: Ensure this field has no more than 255 characters."),
        ({"title": "t", "priority": "high"}, "priority: A valid integer is required."),
        (
            {"title": "t", "priority": 2**63},
            "priority: Ensure this value is less than or equal to 9223372036854775807.",
        ),
        ({"title": "t", "due_date": "tomorrow"}, "due_date: "),
        ({"title": "t", "project_id": "abc"}, "project_id: A valid integer is required."),
    ],
)
def test_it_refuses_an_invalid_task(api_client, body, detail):
    response = api_client.post(reverse("task-list"), body, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    assert not Task.objects.exists()


def test_it_lists_tasks_by_priority_then_newest(api_client):
    low = services.task_create(title="low", priority=-1)
    old_high = services.task_create(title="old high", priority=5)
    new_high = services.task_create(title="new high", priority=5)
    middle = services.task_create(title="middle")

    response = api_client.get(reverse("task-list"))

    assert response.status_code == 200
    assert [task["id"] for task in response.json()] == [new_high.pk, old_high.pk, middle.pk, low.pk]


def test_it_filters_tasks_with_and(api_client, make_node, other_project):
    node = make_node("n")
    match = services.task_create(title="match", project_id=node.project_id, node_id=node.pk, completed=True)
    services.task_create(title="open", project_id=node.project_id, node_id=node.pk)
    services.task_create(title="no node", project_id=node.project_id, completed=True)
    services.task_create(title="elsewhere", project_id=other_project.pk, completed=True)

    def ids(query):
        return [task["id"] for task in api_client.get(reverse("task-list"), query).json()]

    assert ids({"project_id": node.project_id, "node_id": node.pk, "completed": "true"}) == [match.pk]
    assert len(ids({"project_id": node.project_id})) == 3
    assert len(ids({"completed": "false"})) == 1
    assert len(ids({})) == 4


def test_it_refuses_a_malformed_filter(api_client):
    response = api_client.get(reverse("task-list"), {"completed": "maybe"})

    assert response.status_code == 400
    assert response.json()["detail"] == "completed: Must be a valid boolean."


def test_the_ui_toggles_a_task(api_client):
    task = services.task_create(title="t", priority=2)

    response = api_client.patch(task_url(task), {"completed": True}, format="json")

    assert response.status_code == 200
    assert (response.json()["completed"], response.json()["priority"], response.json()["title"]) == (True, 2, "t")
    task.refresh_from_db()
    assert task.completed is True


def test_patch_with_null_unlinks_and_clears(api_client, make_node):
    node = make_node("n")
    task = services.task_create(title="t", project_id=node.project_id, node_id=node.pk, description="d")

    response = api_client.patch(
        task_url(task), {"project_id": None, "node_id": None, "description": None}, format="json"
    )

    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.project_id, task.node_id, task.description) == (None, None, None)


@pytest.mark.parametrize("field", ["title", "completed", "priority"])
def test_patch_with_null_for_a_required_column_is_400(api_client, field):
    task = services.task_create(title="t")

    response = api_client.patch(task_url(task), {field: None}, format="json")

    assert (response.status_code, response.json()["detail"]) == (400, f"{field}: This field may not be null.")


def test_patch_checks_a_new_node_against_the_project_the_task_ends_up_with(api_client, make_node, other_project):
    node = make_node("n")
    foreign = services.node_create(project_id=other_project.pk, title="f")
    task = services.task_create(title="t", project_id=node.project_id)

    refused = api_client.patch(task_url(task), {"node_id": foreign.pk}, format="json")
    moved = api_client.patch(task_url(task), {"node_id": foreign.pk, "project_id": other_project.pk}, format="json")

    assert (refused.status_code, refused.json()) == (
        400,
        {"detail": "Node does not belong to project", "message": "Node does not belong to project"},
    )
    assert moved.status_code == 200
    task.refresh_from_db()
    assert (task.project_id, task.node_id) == (other_project.pk, foreign.pk)


def test_patch_of_only_the_project_checks_the_linked_node(api_client, make_node, other_project):
    node = make_node("n")
    task = services.task_create(title="t", project_id=node.project_id, node_id=node.pk)

    response = api_client.patch(task_url(task), {"project_id": other_project.pk}, format="json")

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "Node does not belong to project", "message": "Node does not belong to project"},
    )
    task.refresh_from_db()
    assert task.project_id == node.project_id


@pytest.mark.parametrize(
    ("body", "detail"), [({"project_id": 999}, "Project not found"), ({"node_id": 999}, "Node not found")]
)
def test_patch_refuses_missing_links(api_client, body, detail):
    task = services.task_create(title="t")

    response = api_client.patch(task_url(task), body, format="json")

    assert (response.status_code, response.json()) == (400, {"detail": detail, "message": detail})


def test_get_patch_and_delete_a_missing_task_are_404(api_client):
    for response in (
        api_client.get("/tasks/999"),
        api_client.patch("/tasks/999", {"title": "x"}, format="json"),
        api_client.delete("/tasks/999"),
    ):
        assert (response.status_code, response.json()) == (
            404,
            {"detail": "Task not found", "message": "Task not found"},
        )


def test_it_deletes_a_task(api_client):
    task = services.task_create(title="t")

    response = api_client.delete(task_url(task))

    assert (response.status_code, response.content) == (204, b"")
    assert not Task.objects.exists()
