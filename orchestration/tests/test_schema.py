"""The OpenAPI schema describes what the orchestration endpoints and /health really answer."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.support.openapi_check import SchemaChecker, hub_openapi

pytestmark = pytest.mark.django_db


def test_real_responses_of_every_orchestration_endpoint_match_the_schema(api_client: APIClient) -> None:
    checker = SchemaChecker(hub_openapi(), api_client)
    call = checker.call
    call("get", "/health", 200)
    call("put", "/api/orchestration/workspace/{workspace_path}", 200, {"desired": 2}, workspace_path="%2Fa")
    call("put", "/api/orchestration/workspace/{workspace_path}", 200, {"running": 1}, workspace_path="%2Fa/running")
    call("get", "/api/orchestration/workspace/{workspace_path}", 200, workspace_path="%2Fa")
    call("get", "/api/orchestration/global", 200)
    call("get", "/api/orchestration/workspaces", 200)
    assert checker.documented(lambda path: path.startswith("/api/orchestration") or path == "/health") == checker.seen
