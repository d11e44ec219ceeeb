"""Agent templates and the template cascade."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from agents.models import AgentStep, AgentTemplate, Execution, StepEdge, StepRun
from agents.services import launch
from projects import services as project_services

pytestmark = pytest.mark.django_db

BUILTIN_COUNT = 6
ANY_TIME = object()


def step_body(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "agent_type": "claude", "prompt_template": f"Do {name} for {{{{node.title}}}}", **extra}


def expected_step(step_id: int, template_id: int, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "template_id": template_id,
        "name": name,
        "agent_type": "claude",
        "prompt_template": f"Do {name} for {{{{node.title}}}}",
        "output_format": "text",
        "position_x": 0.0,
        "position_y": 0.0,
        "metadata": {},
        "model_version": None,
        "thinking_budget": None,
        "reasoning_level": None,
        "max_budget_usd": None,
        "parent_ids": [],
        "child_ids": [],
        "created_at": ANY_TIME,
        "updated_at": ANY_TIME,
        **extra,
    }


def same(body: Any, expected: Any) -> bool:
    """Equality where ``ANY_TIME`` matches any ISO datetime string ending in Z."""
    if expected is ANY_TIME:
        return isinstance(body, str) and body.endswith("Z") and "T" in body
    if isinstance(expected, dict):
        return (
            isinstance(body, dict)
            and body.keys() == expected.keys()
            and all(same(body[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return isinstance(body, list) and len(body) == len(expected) and all(map(same, body, expected))
    return body == expected


def create(client: APIClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(reverse("agent-templates"), body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_creating_a_simple_agent_answers_the_template_with_its_step(api_client: APIClient) -> None:
    body = {"name": "Helper", "metadata": {"icon": "🤖", "simple": True}, "steps": [step_body("Only")]}
    created = create(api_client, body)
    template = AgentTemplate.objects.get(pk=created["id"])
    step = template.steps.get()
    assert same(
        created,
        {
            "id": template.pk,
            "name": "Helper",
            "description": None,
            "metadata": {"icon": "🤖", "simple": True},
            "max_budget_usd": None,
            "created_at": ANY_TIME,
            "updated_at": ANY_TIME,
            "steps": [expected_step(step.pk, template.pk, "Only")],
            "edges": [],
        },
    )


def test_create_converts_index_edges_to_the_new_step_ids(api_client: APIClient) -> None:
    body = {
        "name": "Chain",
        "description": "a -> b, a -> c",
        "steps": [step_body("a"), step_body("b", output_format="json", thinking_budget=8000), step_body("c")],
        "edges": [{"parent_id": 0, "child_id": 1}, {"parent_id": 0, "child_id": 2}],
    }
    created = create(api_client, body)
    a, b, c = (s["id"] for s in created["steps"])
    assert created["edges"] == [{"parent_id": a, "child_id": b}, {"parent_id": a, "child_id": c}]
    assert [(s["name"], s["parent_ids"], s["child_ids"]) for s in created["steps"]] == [
        ("a", [], [b, c]),
        ("b", [a], []),
        ("c", [a], []),
    ]
    assert created["steps"][1]["output_format"] == "json" and created["steps"][1]["thinking_budget"] == 8000
    assert set(StepEdge.objects.values_list("parent_id", "child_id").filter(template_id=created["id"])) == {
        (a, b),
        (a, c),
    }


@pytest.mark.parametrize("edge", [{"parent_id": 0, "child_id": 2}, {"parent_id": -1, "child_id": 0}])
def test_an_unknown_step_index_stores_nothing(api_client: APIClient, edge: dict[str, int]) -> None:
    body = {"name": "Bad", "steps": [step_body("a"), step_body("b")], "edges": [edge]}
    response = api_client.post(reverse("agent-templates"), body, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Edge references unknown step index",
        "message": "Edge references unknown step index",
    }
    assert AgentTemplate.objects.count() == BUILTIN_COUNT
    assert not AgentStep.objects.filter(name__in=["a", "b"]).exists()


def test_a_duplicate_index_edge_is_refused_and_stores_nothing(api_client: APIClient) -> None:
    edge = {"parent_id": 0, "child_id": 1}
    body = {"name": "Dup", "steps": [step_body("a"), step_body("b")], "edges": [edge, edge]}
    response = api_client.post(reverse("agent-templates"), body, format="json")
    assert (response.status_code, response.json()) == (
        400,
        {"detail": "Edge already exists", "message": "Edge already exists"},
    )
    assert not AgentTemplate.objects.filter(name="Dup").exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "name: This field is required."),
        ({"name": None}, "name: This field may not be null."),
        ({"name": 5}, "name: Must be a string."),
        ({"name": "x" * 256}, "name: Ensure this field has no more than 255 characters."),
        ({"name": "n", "metadata": []}, 'metadata: Expected a dictionary of items but got type "list".'),
        (
            {"name": "n", "steps": [{"name": "s", "agent_type": "robot", "prompt_template": ""}]},
            'steps.0.agent_type: "robot" is not a valid choice.',
        ),
        (
            {"name": "n", "steps": [{"agent_type": "claude", "prompt_template": ""}]},
            "steps.0.name: This field is required.",
        ),
        (
            {"name": "n", "edges": [{"parent_id": "a", "child_id": 0}]},
            "edges.0.parent_id: A valid integer is required.",
        ),
        ([], "Invalid data. Expected a dictionary, but got list."),
    ],
)
def test_invalid_template_bodies_are_400_naming_the_field(api_client: APIClient, body: Any, detail: str) -> None:
    response = api_client.post(reverse("agent-templates"), body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == detail
    assert AgentTemplate.objects.count() == BUILTIN_COUNT


def test_unknown_keys_are_ignored_and_an_empty_name_is_allowed(api_client: APIClient) -> None:
    created = create(api_client, {"name": "", "bogus": 1, "id": 999})
    assert created["name"] == "" and created["id"] != 999 and created["steps"] == []


def test_the_list_is_newest_first_without_steps(api_client: APIClient) -> None:
    first = create(api_client, {"name": "First"})
    second = create(api_client, {"name": "Second", "steps": [step_body("s")]})
    body = api_client.get(reverse("agent-templates")).json()
    assert [t["id"] for t in body[:2]] == [second["id"], first["id"]]
    assert len(body) == BUILTIN_COUNT + 2
    assert same(
        body[0],
        {
            "id": second["id"],
            "name": "Second",
            "description": None,
            "metadata": {},
            "max_budget_usd": None,
            "created_at": ANY_TIME,
            "updated_at": ANY_TIME,
        },
    )


def test_get_answers_the_template_with_steps_in_id_order_and_edges(api_client: APIClient) -> None:
    created = create(
        api_client,
        {"name": "T", "steps": [step_body("a"), step_body("b")], "edges": [{"parent_id": 1, "child_id": 0}]},
    )
    response = api_client.get(reverse("agent-template", args=[created["id"]]))
    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize("size", [2, 12])
def test_a_template_is_read_in_the_same_number_of_queries_whatever_its_size(
    api_client: APIClient, django_assert_num_queries: Any, size: int
) -> None:
    chain = [{"parent_id": i, "child_id": i + 1} for i in range(size - 1)]
    created = create(api_client, {"name": "T", "steps": [step_body(f"s{i}") for i in range(size)], "edges": chain})
    # The template, its steps, their parent and child links, and its edges.
    with django_assert_num_queries(5):
        body = api_client.get(reverse("agent-template", args=[created["id"]])).json()
    assert body == created and len(body["steps"]) == size


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_a_missing_template_is_404(api_client: APIClient, method: str) -> None:
    for tid in (999999, 10**18 - 1):
        response = getattr(api_client, method)(reverse("agent-template", args=[tid]), {}, format="json")
        assert (response.status_code, response.json()) == (
            404,
            {"detail": "Template not found", "message": "Template not found"},
        )


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("tid", [str(10**18), str(2**63), str(10**30), "-1"])
def test_an_id_no_database_column_holds_is_the_json_404_of_an_unknown_route(
    api_client: APIClient, method: str, tid: str
) -> None:
    response = getattr(api_client, method)(f"/agent-templates/{tid}", {}, format="json")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found", "message": "Not Found"})


def test_a_non_integer_template_id_is_a_json_404(api_client: APIClient) -> None:
    response = api_client.get("/agent-templates/abc")
    assert (response.status_code, response.json()) == (404, {"detail": "Not Found", "message": "Not Found"})


def test_patch_changes_only_the_keys_sent_and_answers_without_steps(api_client: APIClient) -> None:
    created = create(
        api_client, {"name": "Old", "description": "d", "metadata": {"icon": "x"}, "steps": [step_body("s")]}
    )
    url = reverse("agent-template", args=[created["id"]])
    response = api_client.patch(url, {"name": "New", "steps": [], "id": 1}, format="json")
    assert response.status_code == 200
    assert same(
        response.json(),
        {
            "id": created["id"],
            "name": "New",
            "description": "d",
            "metadata": {"icon": "x"},
            "max_budget_usd": None,
            "created_at": created["created_at"],
            "updated_at": ANY_TIME,
        },
    )
    assert response.json()["updated_at"] >= created["updated_at"]
    assert AgentStep.objects.filter(template_id=created["id"]).count() == 1


def test_patch_replaces_metadata_null_makes_it_empty_and_clears_the_description(api_client: APIClient) -> None:
    created = create(api_client, {"name": "T", "description": "d", "metadata": {"a": 1, "b": 2}})
    url = reverse("agent-template", args=[created["id"]])
    assert api_client.patch(url, {"metadata": {"c": 3}}, format="json").json()["metadata"] == {"c": 3}
    body = api_client.patch(url, {"metadata": None, "description": None}, format="json").json()
    assert (body["metadata"], body["description"]) == ({}, None)
    template = AgentTemplate.objects.get(pk=created["id"])
    assert (template.metadata, template.description, template.name) == ({}, None, "T")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": None}, "name: This field may not be null."),
        ({"name": ["x"]}, "name: Must be a string."),
        ({"metadata": "x"}, 'metadata: Expected a dictionary of items but got type "str".'),
    ],
)
def test_patch_refuses_null_or_wrong_types_for_required_columns(
    api_client: APIClient, body: dict[str, Any], detail: str
) -> None:
    created = create(api_client, {"name": "Keep"})
    response = api_client.patch(reverse("agent-template", args=[created["id"]]), body, format="json")
    assert (response.status_code, response.json()["detail"]) == (400, detail)
    assert AgentTemplate.objects.get(pk=created["id"]).name == "Keep"


def test_delete_removes_steps_and_edges_and_detaches_executions(api_client: APIClient) -> None:
    created = create(
        api_client, {"name": "T", "steps": [step_body("a"), step_body("b")], "edges": [{"parent_id": 0, "child_id": 1}]}
    )
    project = project_services.project_create(name="P")
    node = project_services.node_create(project_id=project.pk, title="N")
    execution = launch.launch(project_id=project.pk, node_id=node.pk, template_id=created["id"])

    response = api_client.delete(reverse("agent-template", args=[created["id"]]))
    assert (response.status_code, response.content) == (204, b"")
    assert not AgentTemplate.objects.filter(pk=created["id"]).exists()
    assert not AgentStep.objects.filter(template_id=created["id"]).exists()
    assert not StepEdge.objects.filter(template_id=created["id"]).exists()
    execution.refresh_from_db()
    assert execution.template_id is None
    runs = StepRun.objects.filter(execution=execution).order_by("id")
    assert [(r.step_id, r.name, r.prompt) for r in runs] == [(None, "a", "Do a for N"), (None, "b", "Do b for N")]
    assert list(runs[1].parents.all()) == [runs[0]]
    assert Execution.objects.count() == 1
