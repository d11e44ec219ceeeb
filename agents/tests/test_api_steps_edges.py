"""Template steps and step edges and the step cascade."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from agents.models import AgentStep, AgentTemplate, StepEdge, StepRun
from agents.services import launch, templates
from projects import services as project_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def template() -> AgentTemplate:
    return templates.template_create(name="Builder")


def add_step(template: AgentTemplate, name: str) -> AgentStep:
    return templates.step_create(
        template_id=template.pk, fields={"name": name, "agent_type": "codex", "prompt_template": name}
    )


def steps_url(template: AgentTemplate) -> str:
    return reverse("agent-steps", args=[template.pk])


def step_url(template: AgentTemplate, step_id: int) -> str:
    return reverse("agent-step", args=[template.pk, step_id])


def edges_url(template: AgentTemplate) -> str:
    return reverse("agent-step-edges", args=[template.pk])


def test_creating_a_step_answers_it_with_empty_links(api_client: APIClient, template: AgentTemplate) -> None:
    body = {
        "name": "Review",
        "agent_type": "gemini",
        "prompt_template": "  Look at {{code}}\n",
        "output_format": "markdown",
        "position_x": 120.5,
        "position_y": -3,
        "metadata": {"timeout_seconds": 60},
        "model_version": "gemini-3-pro",
        "reasoning_level": None,
        "parent_ids": [1, 2],
    }
    response = api_client.post(steps_url(template), body, format="json")
    assert response.status_code == 201
    step = AgentStep.objects.get(template=template)
    created = response.json()
    assert created == {
        "id": step.pk,
        "template_id": template.pk,
        "name": "Review",
        "agent_type": "gemini",
        "prompt_template": "  Look at {{code}}\n",
        "output_format": "markdown",
        "position_x": 120.5,
        "position_y": -3.0,
        "metadata": {"timeout_seconds": 60},
        "model_version": "gemini-3-pro",
        "thinking_budget": None,
        "reasoning_level": None,
        "max_budget_usd": None,
        "parent_ids": [],
        "child_ids": [],
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    assert created["created_at"].endswith("Z")
    assert step.prompt_template == "  Look at {{code}}\n" and not StepEdge.objects.filter(template=template).exists()


def test_creating_a_step_in_a_missing_template_is_404(api_client: APIClient) -> None:
    body = {"name": "s", "agent_type": "claude", "prompt_template": "p"}
    response = api_client.post(reverse("agent-steps", args=[424242]), body, format="json")
    assert (response.status_code, response.json()) == (
        404,
        {"detail": "Template not found", "message": "Template not found"},
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"agent_type": "claude", "prompt_template": "p"}, "name: This field is required."),
        ({"name": "s", "prompt_template": "p"}, "agent_type: This field is required."),
        ({"name": "s", "agent_type": "claude"}, "prompt_template: This field is required."),
        (
            {"name": "s", "agent_type": "claude", "prompt_template": None},
            "prompt_template: This field may not be null.",
        ),
        (
            {"name": "s", "agent_type": "claude", "prompt_template": "p", "output_format": "pdf"},
            'output_format: "pdf" is not a valid choice.',
        ),
        (
            {"name": "s", "agent_type": "claude", "prompt_template": "p", "position_x": "1"},
            "position_x: A finite number is required.",
        ),
        (
            {"name": "s", "agent_type": "claude", "prompt_template": "p", "thinking_budget": "lots"},
            "thinking_budget: A valid integer is required.",
        ),
        (
            {"name": "s", "agent_type": "claude", "prompt_template": "p", "thinking_budget": 2**40},
            "thinking_budget: Ensure this value is less than or equal to 2147483647.",
        ),
    ],
)
def test_invalid_step_bodies_are_400_naming_the_field(
    api_client: APIClient, template: AgentTemplate, body: dict[str, Any], detail: str
) -> None:
    response = api_client.post(steps_url(template), body, format="json")
    assert (response.status_code, response.json()["detail"]) == (400, detail)
    assert not AgentStep.objects.filter(template=template).exists()


def test_the_builder_patches_the_whole_step_and_read_only_keys_are_ignored(
    api_client: APIClient, template: AgentTemplate
) -> None:
    a, b, c = add_step(template, "a"), add_step(template, "b"), add_step(template, "c")
    templates.edge_create(template_id=template.pk, parent_id=a.pk, child_id=b.pk)
    held = api_client.get(reverse("agent-template", args=[template.pk])).json()["steps"][1]
    assert held["parent_ids"] == [a.pk]
    edited = {
        **held,
        "name": "b2",
        "prompt_template": "new {{a}}",
        "thinking_budget": 4000,
        "id": 999,
        "template_id": 12345,
        "parent_ids": [c.pk],
        "child_ids": [a.pk],
        "created_at": "2000-01-01T00:00:00Z",
        "updated_at": "2000-01-01T00:00:00Z",
    }
    response = api_client.patch(step_url(template, b.pk), edited, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        **held,
        "name": "b2",
        "prompt_template": "new {{a}}",
        "thinking_budget": 4000,
        "updated_at": body["updated_at"],
    }
    assert body["updated_at"] > held["updated_at"]
    assert list(StepEdge.objects.filter(template=template).values_list("parent_id", "child_id")) == [(a.pk, b.pk)]
    b.refresh_from_db()
    assert (b.template_id, b.name, b.thinking_budget) == (template.pk, "b2", 4000)


def test_dragging_a_step_sends_only_its_position(api_client: APIClient, template: AgentTemplate) -> None:
    step = add_step(template, "s")
    response = api_client.patch(step_url(template, step.pk), {"position_x": 10, "position_y": 20.5}, format="json")
    assert response.status_code == 200
    assert (response.json()["position_x"], response.json()["position_y"], response.json()["name"]) == (10.0, 20.5, "s")


def test_patch_clears_nullable_model_fields_and_refuses_null_for_required_ones(
    api_client: APIClient, template: AgentTemplate
) -> None:
    step = add_step(template, "s")
    AgentStep.objects.filter(pk=step.pk).update(model_version="m", reasoning_level="high", metadata={"x": 1})
    url = step_url(template, step.pk)
    body = api_client.patch(
        url, {"model_version": None, "reasoning_level": None, "metadata": None}, format="json"
    ).json()
    assert (body["model_version"], body["reasoning_level"], body["metadata"]) == (None, None, {})
    for key in ("name", "agent_type", "prompt_template", "output_format", "position_x"):
        response = api_client.patch(url, {key: None}, format="json")
        assert (response.status_code, response.json()["detail"]) == (400, f"{key}: This field may not be null.")
    assert AgentStep.objects.get(pk=step.pk).name == "s"


def test_a_step_of_another_template_or_a_missing_one_is_404(api_client: APIClient, template: AgentTemplate) -> None:
    other = templates.template_create(name="Other")
    foreign = add_step(other, "foreign")
    for url in (step_url(template, foreign.pk), step_url(template, 999999)):
        for method in ("patch", "delete"):
            response = getattr(api_client, method)(url, {"name": "x"}, format="json")
            assert (response.status_code, response.json()) == (
                404,
                {"detail": "Step not found", "message": "Step not found"},
            )
    response = api_client.patch(reverse("agent-step", args=[999999, foreign.pk]), {}, format="json")
    assert (response.status_code, response.json()) == (
        404,
        {"detail": "Template not found", "message": "Template not found"},
    )
    assert AgentStep.objects.get(pk=foreign.pk).name == "foreign"


def test_deleting_a_step_removes_its_edges_and_detaches_its_step_runs(
    api_client: APIClient, template: AgentTemplate
) -> None:
    a, b, c = add_step(template, "a"), add_step(template, "b"), add_step(template, "c")
    templates.edge_create(template_id=template.pk, parent_id=a.pk, child_id=b.pk)
    templates.edge_create(template_id=template.pk, parent_id=b.pk, child_id=c.pk)
    templates.edge_create(template_id=template.pk, parent_id=a.pk, child_id=c.pk)
    project = project_services.project_create(name="P")
    node = project_services.node_create(project_id=project.pk, title="N")
    execution = launch.launch(project_id=project.pk, node_id=node.pk, template_id=template.pk)

    response = api_client.delete(step_url(template, b.pk))
    assert (response.status_code, response.content) == (204, b"")
    assert list(StepEdge.objects.filter(template=template).values_list("parent_id", "child_id")) == [(a.pk, c.pk)]
    steps = api_client.get(reverse("agent-template", args=[template.pk])).json()["steps"]
    assert [(s["name"], s["parent_ids"], s["child_ids"]) for s in steps] == [("a", [], [c.pk]), ("c", [a.pk], [])]
    assert [(r.name, r.step_id) for r in StepRun.objects.filter(execution=execution)] == [
        ("a", a.pk),
        ("b", None),
        ("c", c.pk),
    ]


def test_creating_an_edge_echoes_it_and_links_both_steps(api_client: APIClient, template: AgentTemplate) -> None:
    a, b = add_step(template, "a"), add_step(template, "b")
    response = api_client.post(edges_url(template), {"parent_id": a.pk, "child_id": b.pk, "x": 1}, format="json")
    assert (response.status_code, response.json()) == (201, {"parent_id": a.pk, "child_id": b.pk})
    assert api_client.patch(step_url(template, a.pk), {}, format="json").json()["child_ids"] == [b.pk]
    assert api_client.patch(step_url(template, b.pk), {}, format="json").json()["parent_ids"] == [a.pk]


def test_a_duplicate_edge_is_refused(api_client: APIClient, template: AgentTemplate) -> None:
    a, b = add_step(template, "a"), add_step(template, "b")
    api_client.post(edges_url(template), {"parent_id": a.pk, "child_id": b.pk}, format="json")
    response = api_client.post(edges_url(template), {"parent_id": a.pk, "child_id": b.pk}, format="json")
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "Edge already exists", "message": "Edge already exists"},
    )
    assert StepEdge.objects.filter(template=template).count() == 1


def test_edges_to_steps_outside_the_template_are_refused(api_client: APIClient, template: AgentTemplate) -> None:
    a = add_step(template, "a")
    foreign = add_step(templates.template_create(name="Other"), "f")
    for parent, child in ((a.pk, foreign.pk), (foreign.pk, a.pk), (a.pk, 999999), (0, a.pk)):
        response = api_client.post(edges_url(template), {"parent_id": parent, "child_id": child}, format="json")
        assert (response.status_code, response.json()) == (
            400,
            {"detail": "Steps not found in this template", "message": "Steps not found in this template"},
        )
    assert not StepEdge.objects.filter(template=template).exists()


def test_self_edges_and_cycles_are_accepted_as_the_contract_says(
    api_client: APIClient, template: AgentTemplate
) -> None:
    a, b = add_step(template, "a"), add_step(template, "b")
    for parent, child in ((a.pk, a.pk), (a.pk, b.pk), (b.pk, a.pk)):
        response = api_client.post(edges_url(template), {"parent_id": parent, "child_id": child}, format="json")
        assert response.status_code == 201
    assert StepEdge.objects.filter(template=template).count() == 3


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"child_id": 1}, "parent_id: This field is required."),
        ({"parent_id": "x", "child_id": 1}, "parent_id: A valid integer is required."),
        ({"parent_id": 1, "child_id": None}, "child_id: This field may not be null."),
    ],
)
def test_invalid_edge_bodies_are_400(
    api_client: APIClient, template: AgentTemplate, body: dict[str, Any], detail: str
) -> None:
    for method in ("post", "delete"):
        response = getattr(api_client, method)(edges_url(template), body, format="json")
        assert (response.status_code, response.json()["detail"]) == (400, detail)


def test_edges_of_a_missing_template_are_404(api_client: APIClient) -> None:
    for method in ("post", "delete"):
        response = getattr(api_client, method)(
            reverse("agent-step-edges", args=[999999]), {"parent_id": 1, "child_id": 2}, format="json"
        )
        assert (response.status_code, response.json()) == (
            404,
            {"detail": "Template not found", "message": "Template not found"},
        )


def test_deleting_an_edge_takes_a_json_body_and_is_idempotent(api_client: APIClient, template: AgentTemplate) -> None:
    a, b = add_step(template, "a"), add_step(template, "b")
    templates.edge_create(template_id=template.pk, parent_id=a.pk, child_id=b.pk)
    templates.edge_create(template_id=template.pk, parent_id=b.pk, child_id=a.pk)
    for _ in range(2):
        response = api_client.delete(edges_url(template), {"parent_id": a.pk, "child_id": b.pk}, format="json")
        assert (response.status_code, response.content) == (204, b"")
    assert list(StepEdge.objects.filter(template=template).values_list("parent_id", "child_id")) == [(b.pk, a.pk)]


def test_the_edges_route_has_no_get(api_client: APIClient, template: AgentTemplate) -> None:
    response = api_client.get(edges_url(template))
    assert (response.status_code, response.json()) == (
        405,
        {"detail": "Method Not Allowed", "message": "Method Not Allowed"},
    )
