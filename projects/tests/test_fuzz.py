"""Schemathesis-generated requests against every projects operation never get a 5xx.

Cases come from the OpenAPI schema (valid ones, and ones that break it on purpose); path ids
are mostly swapped for rows that exist, so the bodies reach the services instead of a 404.
Bounded and deterministic: 30 examples per operation and mode, derandomized.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.core import NotSet

from projects import planning, services
from projects.urls import urlpatterns

pytestmark = pytest.mark.django_db

OPERATIONS = [
    ("/" + re.sub(r"<dbid:(\w+)>", r"{\1}", str(url.pattern)), method)
    for url in urlpatterns
    for method in ("get", "post", "patch", "delete")
    if hasattr(url.callback.view_class, method)
]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
PLAN_ANSWER = json.dumps({"nodes": [{"title": "a"}, {"title": "b"}], "edges": [{"source_index": 0, "target_index": 1}]})
_schema: Any = None


def api_schema() -> Any:
    global _schema
    if _schema is None:
        _schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    return _schema


def world() -> dict[str, int]:
    """Fresh rows for one example: a project with two linked nodes, a run and a task."""
    project = services.project_create(name="fuzz")
    parent = services.node_create(project_id=project.pk, title="parent")
    node = services.node_create(project_id=project.pk, title="node", parent_ids=[parent.pk])
    run = services.run_create(project_id=project.pk, node_id=node.pk, agent_type="claude", prompt="p")
    task = services.task_create(title="t", project_id=project.pk, node_id=node.pk)
    return {"pid": project.pk, "nid": node.pk, "rid": run.pk, "tid": task.pk}


def send(client: APIClient, method: str, case: Any, ids: dict[str, int] | None) -> Any:
    params = {**case.path_parameters, **(ids or {})}
    path = case.path
    for name, value in params.items():
        path = path.replace("{" + name + "}", str(value))
    query = urlencode(case.query or {}, doseq=True)
    if query:
        path = f"{path}?{query}"
    if isinstance(case.body, NotSet):
        return getattr(client, method)(path, format="json")
    raw = case.body if isinstance(case.body, bytes) else json.dumps(case.body)
    return client.generic(method.upper(), path, raw, content_type="application/json")


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.value)
@pytest.mark.parametrize(("template", "method"), OPERATIONS, ids=[f"{m.upper()} {t}" for t, m in OPERATIONS])
def test_generated_requests_never_get_a_server_error(template, method, mode, monkeypatch):
    monkeypatch.setattr(planning, "run_planner", lambda prompt, resources: PLAN_ANSWER)
    operation = api_schema()[template][method.upper()]
    client = APIClient()

    @settings(
        max_examples=30,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), real_ids=st.booleans() | st.just(True))
    def check(case: Any, real_ids: bool) -> None:
        ids = world() if real_ids else None
        response = send(client, method, case, ids)
        assert response.status_code < 500, (case.path, case.query, case.body, response.content)
        if response.status_code == 204:
            assert response.content == b""
        else:
            assert isinstance(response.json(), (dict, list))

    check()
