from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse

from projects import services
from projects.models import Run
from projects.tests.helpers import ISO

pytestmark = pytest.mark.django_db


def runs_url(project_id):
    return reverse("run-list", args=[project_id])


def run_url(run):
    return reverse("run-detail", args=[run.project_id, run.pk])


def test_it_creates_a_queued_run_record(api_client, make_node):
    node = make_node("n")
    body = {"node_id": node.pk, "agent_type": "claude", "prompt": "Do it", "extra": "ignored"}

    response = api_client.post(runs_url(node.project_id), body, format="json")

    assert response.status_code == 201
    assert response.json() == {
        "id": Run.objects.get().pk,
        "project_id": node.project_id,
        "node_id": node.pk,
        "agent_type": "claude",
        "prompt": "Do it",
        "status": "queued",
        "output": None,
        "error": None,
        "metadata": {},
        "started_at": None,
        "finished_at": None,
        "created_at": ISO,
        "updated_at": ISO,
    }


def test_it_refuses_a_node_of_another_project(api_client, make_node, other_project):
    node = make_node("n")

    response = api_client.post(
        runs_url(other_project.pk), {"node_id": node.pk, "agent_type": "codex", "prompt": "p"}, format="json"
    )

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "Node not found in this project", "message": "Node not found in this project"},
    )
    assert not Run.objects.exists()


def test_it_answers_404_for_a_missing_project(api_client):
    listed = api_client.get("/projects/999/runs")
    created = api_client.post(
        "/projects/999/runs", {"node_id": 1, "agent_type": "claude", "prompt": "p"}, format="json"
    )

    assert (listed.status_code, listed.json()) == (404, {"detail": "Project not found", "message": "Project not found"})
    assert (created.status_code, created.json()) == (
        404,
        {"detail": "Project not found", "message": "Project not found"},
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"agent_type": "claude", "prompt": "p"}, "node_id: This field is required."),
        ({"node_id": 1, "prompt": "p"}, "agent_type: This field is required."),
        ({"node_id": 1, "agent_type": "claude"}, "prompt: This field is required."),
        ({"node_id": 1, "agent_type": "bard", "prompt": "p"}, 'agent_type: "bard" is not a valid choice.'),
        (
            {"node_id": 1, "agent_type": "claude", "prompt": "p", "status": "done"},
            'status: "done" is not a valid choice.',
        ),
    ],
)
def test_it_refuses_an_invalid_run(api_client, project, body, detail):
    response = api_client.post(runs_url(project.pk), body, format="json")

    assert (response.status_code, response.json()["detail"]) == (400, detail)


def test_it_lists_runs_newest_first_and_filters_by_node(api_client, make_node):
    a, b = make_node("a"), make_node("b")
    first = services.run_create(project_id=a.project_id, node_id=a.pk, agent_type="claude", prompt="1")
    second = services.run_create(project_id=a.project_id, node_id=b.pk, agent_type="claude", prompt="2")
    third = services.run_create(project_id=a.project_id, node_id=a.pk, agent_type="gemini", prompt="3")

    every = api_client.get(runs_url(a.project_id)).json()
    of_a = api_client.get(runs_url(a.project_id), {"node_id": a.pk}).json()

    assert [run["id"] for run in every] == [third.pk, second.pk, first.pk]
    assert [run["id"] for run in of_a] == [third.pk, first.pk]


def test_it_gets_a_run_only_under_its_project(api_client, make_node, other_project):
    node = make_node("n")
    run = services.run_create(project_id=node.project_id, node_id=node.pk, agent_type="claude", prompt="p")

    assert api_client.get(run_url(run)).json()["id"] == run.pk
    wrong = api_client.get(reverse("run-detail", args=[other_project.pk, run.pk]))
    assert (wrong.status_code, wrong.json()) == (404, {"detail": "Run not found", "message": "Run not found"})


def test_running_fills_started_at_once_and_finishing_stamps_finished_at_every_time(api_client, make_node):
    node = make_node("n")
    run = services.run_create(project_id=node.project_id, node_id=node.pk, agent_type="claude", prompt="p")

    with time_machine.travel("2025-03-01T10:00:00Z", tick=False):
        started = api_client.patch(run_url(run), {"status": "running"}, format="json").json()
    with time_machine.travel("2025-03-01T10:05:00Z", tick=False):
        again = api_client.patch(run_url(run), {"status": "running"}, format="json").json()
    with time_machine.travel("2025-03-01T10:10:00Z", tick=False):
        failed = api_client.patch(run_url(run), {"status": "failed", "error": "boom"}, format="json").json()
    with time_machine.travel("2025-03-01T10:20:00Z", tick=False):
        cancelled = api_client.patch(run_url(run), {"status": "cancelled"}, format="json").json()

    assert (started["started_at"], started["finished_at"]) == ("2025-03-01T10:00:00Z", None)
    assert again["started_at"] == "2025-03-01T10:00:00Z"
    assert (failed["finished_at"], failed["error"]) == ("2025-03-01T10:10:00Z", "boom")
    assert (cancelled["status"], cancelled["finished_at"]) == ("cancelled", "2025-03-01T10:20:00Z")
    run.refresh_from_db()
    assert run.status == "cancelled" and run.error == "boom"


def test_patch_replaces_metadata_and_ignores_extra_keys(api_client, make_node):
    node = make_node("n")
    run = services.run_create(project_id=node.project_id, node_id=node.pk, agent_type="claude", prompt="p")
    api_client.patch(run_url(run), {"metadata": {"a": 1, "b": 2}}, format="json")

    response = api_client.patch(
        run_url(run), {"metadata": {"c": 3}, "output": "done", "prompt": "changed?", "id": 5}, format="json"
    )

    assert response.status_code == 200
    run.refresh_from_db()
    assert (run.metadata, run.output, run.prompt) == ({"c": 3}, "done", "p")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"status": None}, "status: This field may not be null."),
        ({"status": "paused"}, 'status: "paused" is not a valid choice.'),
        ({"metadata": [1]}, 'metadata: Expected a dictionary of items but got type "list".'),
    ],
)
def test_patch_refuses_invalid_values(api_client, make_node, body, detail):
    node = make_node("n")
    run = services.run_create(project_id=node.project_id, node_id=node.pk, agent_type="claude", prompt="p")

    response = api_client.patch(run_url(run), body, format="json")

    assert (response.status_code, response.json()["detail"]) == (400, detail)
    run.refresh_from_db()
    assert (run.status, run.metadata) == ("queued", {})


def test_patch_of_a_missing_run_is_404(api_client, project):
    response = api_client.patch(reverse("run-detail", args=[project.pk, 999]), {"status": "running"}, format="json")

    assert (response.status_code, response.json()) == (404, {"detail": "Run not found", "message": "Run not found"})


def test_a_run_created_as_running_or_finished_gets_its_timestamps(api_client, make_node):
    node = make_node("n")
    url = runs_url(node.project_id)

    running = api_client.post(
        url, {"node_id": node.pk, "agent_type": "claude", "prompt": "p", "status": "running"}, format="json"
    )
    done = api_client.post(
        url, {"node_id": node.pk, "agent_type": "claude", "prompt": "p", "status": "completed"}, format="json"
    )

    assert (running.json()["started_at"], running.json()["finished_at"]) == (ISO, None)
    assert (done.json()["started_at"], done.json()["finished_at"]) == (None, ISO)
