"""Every operation of the OpenAPI schema (orchestration, projects, agents) never answers a 5xx.

Two kinds of cases:
- Schemathesis cases from the schema (valid ones, and ones that break it on purpose); path ids
  are mostly swapped for rows that exist, so the bodies reach the services instead of a 404.
  Bounded and deterministic: 30 examples per operation and mode, derandomized.
- Hand-picked odd bodies for every operation that takes one: nested 100 000 deep, larger than
  the upload limit, invalid UTF-8, lone surrogates, NaN, numbers beyond any column, not JSON.

Both run in the PostgreSQL pass of ``make test`` (marker ``fuzz``): PostgreSQL refuses values
SQLite stores (a NUL in a string), so the stricter database is the one fuzzed.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.core import NotSet

from agents.services import executions, templates
from projects import planning, services

pytestmark = [pytest.mark.django_db, pytest.mark.fuzz]

PLAN_ANSWER = json.dumps({"nodes": [{"title": "a"}, {"title": "b"}], "edges": [{"source_index": 0, "target_index": 1}]})
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


def openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


OPENAPI: dict[str, Any] = {}


def operations() -> list[tuple[str, str]]:
    global OPENAPI
    if not OPENAPI:
        import django

        django.setup()
        OPENAPI = openapi()
    return [
        (path, method)
        for path, item in OPENAPI["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


OPERATIONS = operations()
WITH_BODY = [(path, method) for path, method in OPERATIONS if method in ("post", "put", "patch", "delete")]
_schema: Any = None


def api_schema() -> Any:
    global _schema
    if _schema is None:
        _schema = schemathesis.openapi.from_dict(OPENAPI)
    return _schema


def world() -> dict[str, Any]:
    """Fresh rows for one example: a project with linked nodes, a run, a task, a template with
    two linked steps, and an execution of it."""
    project = services.project_create(name="fuzz")
    parent = services.node_create(project_id=project.pk, title="parent")
    node = services.node_create(project_id=project.pk, title="node", parent_ids=[parent.pk])
    run = services.run_create(project_id=project.pk, node_id=node.pk, agent_type="claude", prompt="p")
    task = services.task_create(title="t", project_id=project.pk, node_id=node.pk)
    template = templates.template_create(
        name=f"fuzz-{project.pk}",
        steps=[
            {"name": "a", "agent_type": "claude", "prompt_template": "p"},
            {"name": "b", "agent_type": "codex", "prompt_template": "q"},
        ],
        edges=[(0, 1)],
    )
    step = template.steps.order_by("id").first()
    execution = executions.execution_create(project_id=project.pk, node_id=node.pk, template_id=template.pk)
    step_run = execution.step_runs.order_by("id").first()
    assert step is not None and step_run is not None
    return {
        "pid": project.pk,
        "nid": node.pk,
        "rid": run.pk,
        "task": task.pk,
        "template": template.pk,
        "sid": step.pk,
        "eid": execution.pk,
        "srid": step_run.pk,
        "workspace_path": "%2Fsrv%2Ffuzz",
    }


def fill(template: str, params: dict[str, Any], ids: dict[str, Any] | None) -> str:
    if ids is not None:
        params = {
            **params,
            **ids,
            "tid": ids["template"] if template.startswith("/agent-templates") else ids["task"],
        }
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def send(client: APIClient, method: str, path: str, body: Any) -> Any:
    if isinstance(body, NotSet):
        return getattr(client, method)(path, format="json")
    raw = body if isinstance(body, bytes) else json.dumps(body)
    # The stubs say str; the test client sends bytes as they are, which is the point here.
    return client.generic(method.upper(), path, raw, content_type="application/json")  # type: ignore[arg-type]


def assert_no_server_error(response: Any, *context: Any) -> None:
    assert response.status_code < 500, (*context, response.content[:500])
    if response.status_code == 204:
        assert response.content == b""
    else:
        assert isinstance(response.json(), (dict, list)), context


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
@pytest.mark.parametrize(("template", "method"), OPERATIONS, ids=[f"{m.upper()} {t}" for t, m in OPERATIONS])
def test_generated_requests_never_get_a_server_error(template, method, mode, monkeypatch):
    monkeypatch.setattr(planning, "run_planner", lambda prompt, resources: PLAN_ANSWER)
    operation = api_schema()[template][method.upper()]
    client = APIClient()

    @settings(max_examples=30, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), real_ids=st.booleans() | st.just(True))
    def check(case: Any, real_ids: bool) -> None:
        path = fill(case.path, case.path_parameters or {}, world() if real_ids else None)
        query = urlencode(case.query or {}, doseq=True)
        response = send(client, method, f"{path}?{query}" if query else path, case.body)
        assert_no_server_error(response, path, case.query, case.body)

    check()


DEPTH = 100_000
ODD_BODIES: dict[str, bytes] = {
    "deep-array": b"[" * DEPTH + b"]" * DEPTH,
    "deep-object": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "deep-under-a-field": b'{"name":"x","metadata":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
    "huge": json.dumps({"name": "x" * (3 * 1024 * 1024)}).encode(),
    "invalid-utf8": b'{"name": "\xff\xfe"}',
    "lone-surrogate": b'{"name": "\\ud800", "title": "\\udfff", "desired": 1}',
    "nan": b'{"desired": NaN, "running": Infinity, "position_x": NaN, "template_id": NaN}',
    "huge-numbers": b'{"desired": 1e999, "running": 10' + b"0" * 400 + b', "template_id": 9' + b"9" * 40 + b"}",
    "not-json": b"desired=3",
    "null": b"null",
    "array": b"[1, 2, 3]",
    "string": b'"x"',
    "empty": b"",
}


@pytest.mark.parametrize("body", list(ODD_BODIES), ids=list(ODD_BODIES))
@pytest.mark.parametrize(("template", "method"), WITH_BODY, ids=[f"{m.upper()} {t}" for t, m in WITH_BODY])
def test_odd_bodies_get_a_clear_4xx(template: str, method: str, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(planning, "run_planner", lambda prompt, resources: PLAN_ANSWER)
    path = fill(template, {}, world())
    odd = ODD_BODIES[body]  # bytes on purpose (invalid UTF-8, NUL): the stubs' str would hide them
    response = APIClient().generic(method.upper(), path, odd, content_type="application/json")  # type: ignore[arg-type]
    assert_no_server_error(response, method, path, body)
    reads_body = "requestBody" in OPENAPI["paths"][template][method]
    if reads_body and (body.startswith("deep") or body in ("invalid-utf8", "not-json", "huge")):
        assert 400 <= response.status_code < 500 and response.json()["detail"]
