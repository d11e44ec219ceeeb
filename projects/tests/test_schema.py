"""The OpenAPI schema describes what the projects endpoints really answer.

Each endpoint is called with real data and its body is validated against the response schema of
its status code, with objects made strict (no undeclared keys) and OpenAPI 3.0 ``nullable``
turned into JSON Schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from rest_framework.test import APIClient

from projects import planning, services
from projects.urls import router
from tests.support.openapi_check import SchemaChecker, hub_openapi, to_json_schema

pytestmark = pytest.mark.django_db

# The routes of this app (the agents app adds its own under /projects/{pid}/...).
PROJECT_PATHS = {"/" + re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", str(url.pattern)).strip("^$") for url in router.urls}
ALWAYS_OPTIONAL = {"NodeMetadata": {"deliverables"}}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return hub_openapi()


@pytest.fixture
def checker(openapi: dict[str, Any], api_client: APIClient) -> SchemaChecker:
    return SchemaChecker(openapi, api_client)


def test_every_response_component_lists_every_field_as_required(openapi):
    for name in ("Project", "Node", "NodeMetadata", "Resource", "Edge", "Graph", "Task", "Run", "Plan", "NodeDraft"):
        component = openapi["components"]["schemas"][name]
        assert set(component["required"]) == set(component["properties"]) - ALWAYS_OPTIONAL.get(name, set()), name


def test_real_responses_of_every_projects_endpoint_match_the_schema(checker, monkeypatch, settings):
    settings.PLANNER_AGENT, settings.CUSTOM_AGENT_COMMAND = "custom", []  # no planner can run: 503
    c = checker
    project = c.call("post", "/projects", 201, {"name": "P", "description": None})
    pid = project["id"]
    c.call("get", "/projects", 200)
    c.call("get", "/projects/{pid}", 200, pid=pid)
    c.call("patch", "/projects/{pid}", 200, {"description": "d"}, pid=pid)
    c.call("post", "/projects", 400, {"name": ""})
    c.call("get", "/projects/{pid}", 404, pid=999)

    metadata = {"resources": [{"kind": "url", "title": "t"}], "extra": {"k": [1]}, "deliverables": "d"}
    a = c.call("post", "/projects/{pid}/nodes", 201, {"title": "a", "metadata": metadata}, pid=pid)
    b = c.call("post", "/projects/{pid}/nodes", 201, {"title": "b", "parent_ids": [a["id"]]}, pid=pid)
    c.call("post", "/projects/{pid}/nodes", 400, {"title": "c", "parent_ids": [999]}, pid=pid)
    c.call("get", "/projects/{pid}/nodes/{nid}", 200, pid=pid, nid=a["id"])
    c.call("get", "/projects/{pid}/nodes", 200, pid=pid)
    c.call("get", "/projects/{pid}/nodes", 404, pid=999)
    c.call("patch", "/projects/{pid}/nodes/{nid}", 200, {"agent_type": "codex"}, pid=pid, nid=b["id"])
    c.call("patch", "/projects/{pid}/nodes/{nid}", 400, {"parent_ids": [b["id"]]}, pid=pid, nid=a["id"])
    c.call("get", "/projects/{pid}/graph", 200, pid=pid)

    run = c.call(
        "post", "/projects/{pid}/runs", 201, {"node_id": a["id"], "agent_type": "claude", "prompt": "p"}, pid=pid
    )
    c.call("post", "/projects/{pid}/runs", 400, {"node_id": 999, "agent_type": "claude", "prompt": "p"}, pid=pid)
    c.call("get", "/projects/{pid}/runs", 200, pid=pid)
    c.call("get", "/projects/{pid}/runs/{rid}", 200, pid=pid, rid=run["id"])
    c.call("patch", "/projects/{pid}/runs/{rid}", 200, {"status": "completed", "output": "o"}, pid=pid, rid=run["id"])

    task = c.call("post", "/tasks", 201, {"title": "t", "due_date": "2025-01-01", "project_id": pid}, pid=pid)
    c.call("post", "/tasks", 400, {"title": "t", "project_id": 999})
    c.call("get", "/tasks", 200)
    c.call("get", "/tasks/{tid}", 200, tid=task["id"])
    c.call("patch", "/tasks/{tid}", 200, {"completed": True}, tid=task["id"])
    c.call("delete", "/tasks/{tid}", 204, tid=task["id"])

    c.call("post", "/projects/{pid}/plan", 503, {"prompt": "p"}, pid=pid)
    answer = {"nodes": [{"title": "x"}, {"title": "y"}], "edges": [{"source_index": 0, "target_index": 1}]}
    monkeypatch.setattr(planning, "run_planner", lambda prompt, resources: json.dumps(answer))
    c.call("post", "/projects/{pid}/plan", 200, {"prompt": "p"}, pid=pid)

    deliverables = "/projects/{pid}/nodes/{nid}/deliverables"
    d = c.call("post", deliverables, 201, {"type": "plan", "name": "plan.md"}, pid=pid, nid=a["id"])
    c.call("post", deliverables, 400, {"type": "plan"}, pid=pid, nid=a["id"])
    c.call("get", deliverables, 200, pid=pid, nid=a["id"])
    c.call("get", deliverables, 404, pid=pid, nid=999)
    c.call("get", deliverables + "/{did}", 200, pid=pid, nid=a["id"], did=d["id"])
    c.call("patch", deliverables + "/{did}", 200, {"status": "completed"}, pid=pid, nid=a["id"], did=d["id"])
    c.call("delete", deliverables + "/{did}", 200, pid=pid, nid=a["id"], did=d["id"])

    c.call("delete", "/projects/{pid}/nodes/{nid}", 204, pid=pid, nid=b["id"])
    c.call("delete", "/projects/{pid}", 204, pid=pid)

    assert c.documented(lambda path: path in PROJECT_PATHS) == c.seen


def test_the_schema_documents_the_request_bodies(openapi):
    schemas = openapi["components"]["schemas"]
    node_create = schemas["NodeInputRequest"]
    assert node_create["required"] == ["title"]
    assert set(node_create["properties"]) == {
        "title",
        "description",
        "status",
        "agent_type",
        "prompt",
        "context",
        "metadata",
        "node_type",
        "expected_deliverables",
        "position_x",
        "position_y",
        "parent_ids",
    }
    assert node_create["properties"]["title"]["maxLength"] == 255
    assert "required" not in schemas["PatchedNodeInputRequest"]
    assert sorted(schemas["RunCreateRequest"]["required"]) == ["agent_type", "node_id", "prompt"]
    assert schemas["PlanRequestRequest"]["required"] == ["prompt"]
    assert "requestBody" not in openapi["paths"]["/projects/{pid}/graph"]["get"]


def test_it_validates_against_a_project_created_by_a_service(checker):
    project = services.project_create(name="svc")
    body = checker.call("get", "/projects/{pid}/graph", 200, pid=project.pk)
    assert body == {"nodes": [], "edges": []}


def test_the_hook_endpoints_answer_what_the_schema_says(checker):
    c = checker
    project = services.project_create(name="P")
    gate = services.node_create(project_id=project.pk, title="gate")
    source = services.node_create(project_id=project.pk, title="source")
    services.deliverable_create(node=source, type="plan", name="plan.md", content="## Plan", status="completed")
    ids = {"pid": project.pk, "nid": gate.pk}

    c.call("post", "/projects/{pid}/nodes/{nid}/hook", 201, {"validation_rules": {"plan.md": "##"}}, **ids)
    c.call("post", "/projects/{pid}/nodes/{nid}/hook", 400, {}, **ids)
    c.call("get", "/projects/{pid}/nodes/{nid}/hook", 200, **ids)
    c.call("patch", "/projects/{pid}/nodes/{nid}/hook", 200, {"max_retries": 2}, **ids)
    execute = "/projects/{pid}/nodes/{nid}/hook/execute"
    result = c.client.post(execute.format(**ids) + f"?source_node_id={source.pk}")
    assert result.status_code == 200
    operation = c.openapi["paths"][execute]["post"]
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["source_node_id"]
    schema = to_json_schema(operation["responses"]["200"]["content"]["application/json"]["schema"])
    jsonschema.Draft202012Validator({**schema, "components": c.components}).validate(result.json())
    c.call("post", "/projects/{pid}/nodes/{nid}/validate", 200, ["plan.md"], pid=project.pk, nid=source.pk)
    c.call("delete", "/projects/{pid}/nodes/{nid}/hook", 200, **ids)
    c.call("get", "/projects/{pid}/nodes/{nid}/hook", 404, **ids)
