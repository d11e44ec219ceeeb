from __future__ import annotations

import json

import pytest
from django.urls import reverse

from projects import planning
from projects.models import Node, NodeEdge, Task

pytestmark = pytest.mark.django_db

ANSWER = json.dumps(
    {
        "nodes": [{"title": "Analyse"}, {"title": "Implement", "description": "Code it"}, {"title": "Verify"}],
        "edges": [{"source_index": 0, "target_index": 1}, {"source_index": 1, "target_index": 2}],
    }
)


@pytest.fixture
def planner(monkeypatch):
    calls = []

    def fake_planner(prompt, resources):
        calls.append((prompt, resources))
        return ANSWER

    monkeypatch.setattr(planning, "run_planner", fake_planner)
    return calls


def test_it_returns_the_planners_draft_with_200_and_stores_nothing(api_client, project, planner):
    body = {"prompt": "Build a hub", "resources": [{"kind": "url", "title": "Spec", "url": "https://x"}]}

    response = api_client.post(reverse("project-plan", args=[project.pk]), body, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "nodes": [
            {"title": "Analyse", "description": None, "status": "pending", "position_x": 0.0, "position_y": 0.0},
            {
                "title": "Implement",
                "description": "Code it",
                "status": "pending",
                "position_x": 0.0,
                "position_y": 160.0,
            },
            {"title": "Verify", "description": None, "status": "pending", "position_x": 0.0, "position_y": 320.0},
        ],
        "edges": [{"source_index": 0, "target_index": 1}, {"source_index": 1, "target_index": 2}],
    }
    assert planner == [("Build a hub", [{"kind": "url", "title": "Spec", "url": "https://x", "notes": None}])]
    assert not Node.objects.exists() and not NodeEdge.objects.exists() and not Task.objects.exists()


def test_resources_may_be_null_or_absent(api_client, project, planner):
    for body in ({"prompt": "p"}, {"prompt": "p", "resources": None}):
        assert api_client.post(reverse("project-plan", args=[project.pk]), body, format="json").status_code == 200
    assert [resources for _, resources in planner] == [[], []]


def test_it_answers_404_for_a_missing_project(api_client, planner):
    response = api_client.post("/projects/999/plan", {"prompt": "p"}, format="json")

    assert (response.status_code, response.json()) == (
        404,
        {"detail": "Project not found", "message": "Project not found"},
    )
    assert planner == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "prompt: This field is required."),
        ({"prompt": 3}, "prompt: Must be a string."),
        ({"prompt": "p", "resources": [{"title": "t"}]}, "resources.0.kind: This field is required."),
    ],
)
def test_it_refuses_an_invalid_request(api_client, project, planner, body, detail):
    response = api_client.post(reverse("project-plan", args=[project.pk]), body, format="json")

    assert (response.status_code, response.json()["detail"]) == (400, detail)
    assert planner == []


def test_without_a_planner_agent_it_answers_503(api_client, project, settings):
    settings.PLANNER_AGENT = "custom"
    settings.CUSTOM_AGENT_COMMAND = []
    response = api_client.post(reverse("project-plan", args=[project.pk]), {"prompt": "p"}, format="json")

    assert response.status_code == 503
    assert response.json()["detail"].startswith("No planner agent can run (ORCHESTRA_PLANNER_AGENT=custom): ")


def test_an_unusable_planner_answer_is_503_with_the_reason(api_client, project, monkeypatch):
    monkeypatch.setattr(planning, "run_planner", lambda prompt, resources: '{"nodes": []}')

    response = api_client.post(reverse("project-plan", args=[project.pk]), {"prompt": "p"}, format="json")

    assert response.status_code == 503
    reason = 'The planner answered with an unusable plan: the answer needs a non-empty "nodes" list'
    assert response.json() == {"detail": reason, "message": reason}
