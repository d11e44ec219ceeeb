"""How the hub's authentication appears in the OpenAPI schema (imported by ``apps.ready``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "orchestra_site.security.auth.ApiKeyAuthentication"
    name = ["bearerKey", "apiKeyHeader"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {"type": "http", "scheme": "bearer", "description": "An API key from `manage.py create_api_key`."},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]


class LoopbackScheme(OpenApiAuthenticationExtension):
    target_class = "orchestra_site.security.auth.LoopbackAuthentication"
    name = "loopback"
    optional = True  # not a credential: requests from loopback pass unless ORCHESTRA_TRUST_LOOPBACK=false

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Loopback-Trust",
            "description": "Implicit: loopback requests without proxy headers.",
        }
