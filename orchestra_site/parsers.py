"""JSON bodies with a bounded depth: a deep body is a 400, never a RecursionError and a 500."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64


class JsonTooDeep(ValueError):
    pass


def json_depth_check(value: Any, *, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``JsonTooDeep`` when arrays and objects nest more than ``limit`` levels (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            raise JsonTooDeep(f"JSON nests more than {limit} levels deep.")
        stack.extend((child, depth + 1) for child in children)


def loads_bounded(text: str | bytes) -> Any:
    """``json.loads`` that refuses deep documents with ``ValueError`` (a ``RecursionError`` too)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeep(f"JSON nests more than {MAX_JSON_DEPTH} levels deep.") from None
    json_depth_check(value)
    return value


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nests more than {MAX_JSON_DEPTH} levels deep.") from None
        try:
            json_depth_check(data)
        except JsonTooDeep as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data
