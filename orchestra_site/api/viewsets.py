"""What every app's viewsets share: path ids that arrive as ints and are integers in the schema,
validated input, and the empty answer of a delete.

A router's patterns capture text; every capture in the hub's routes is a database id (``DB_ID``,
``orchestra_site/api/routers.py``), so ``DatabaseIdViewSet`` hands its actions ints, and its schema
types them as integers, as the ``<dbid:>`` converter does for a plain ``path()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response


class DatabaseIdSchema(AutoSchema):
    """Path ids are integers in the OpenAPI schema (the router's regexes alone read as strings)."""

    def get_override_parameters(self) -> list[Any]:
        ids = [OpenApiParameter(name, int, OpenApiParameter.PATH) for name in re.findall(r"{(\w+)}", self.path)]
        return [*ids, *super().get_override_parameters()]


class DatabaseIdViewSet(viewsets.ViewSet):
    # A viewset whose actions receive the path's ids as ints. (A comment, not a docstring: the
    # schema would show a viewset's docstring as the description of every operation without one.)

    schema = DatabaseIdSchema()

    def dispatch(self, request: Any, *args: Any, **kwargs: str) -> HttpResponseBase:
        return super().dispatch(request, *args, **{name: int(value) for name, value in kwargs.items()})


def no_content() -> Response:
    return Response(status=status.HTTP_204_NO_CONTENT)


def validated(serializer: serializers.Serializer, *, exists: Callable[[], object] | None = None) -> dict[str, Any]:
    """Validated data, or a 400 whose string ``detail`` names the field (the shared handler).

    ``exists`` raises ``NotFound`` for a missing parent, which answers before the 400; it is called
    only on that error path, so a good request reads the parent once.
    """
    if not serializer.is_valid():
        if exists is not None:
            exists()
        raise ValidationError(serializer.errors)
    return dict(serializer.validated_data)
