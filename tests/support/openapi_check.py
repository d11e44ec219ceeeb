"""Test support: call an endpoint and validate its real answer against the hub's OpenAPI schema.

Response objects are made strict (no undeclared keys) and OpenAPI 3.0 ``nullable`` becomes a
JSON Schema null alternative, so the schema must describe exactly what the hub answers.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from drf_spectacular.generators import SchemaGenerator


def to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if "properties" in converted:
        converted.setdefault("additionalProperties", False)
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


def hub_openapi() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


class SchemaChecker:
    """``call(method, "/path/{id}", status, body, id=1)``; ``seen`` collects the operations called."""

    def __init__(self, openapi: dict[str, Any], client: Any) -> None:
        self.openapi = openapi
        self.components = to_json_schema(openapi["components"])
        self.client = client
        self.seen: set[tuple[str, str]] = set()

    def call(self, method: str, template: str, status: int, body: Any = None, **ids: Any) -> Any:
        response = getattr(self.client, method)(template.format(**ids), body, format="json")
        assert response.status_code == status, response.content
        operation = self.openapi["paths"][template][method]
        self.seen.add((template, method))
        if method in ("post", "put", "patch") and body is not None:
            assert "requestBody" in operation, (template, method)
        declared = operation["responses"][str(status)]
        if status == 204:
            assert response.content == b"" and "content" not in declared
            return None
        schema = declared["content"]["application/json"]["schema"]
        jsonschema.Draft202012Validator({**to_json_schema(schema), "components": self.components}).validate(
            response.json()
        )
        return response.json()

    def documented(self, include: Any) -> set[tuple[str, str]]:
        """The documented operations whose path ``include(path)`` accepts."""
        return {
            (path, method)
            for path, operations in self.openapi["paths"].items()
            if include(path)
            for method in operations
        }
