"""JSON bodies the hub can store: bounded depth, no NUL characters.

A deep body would be a RecursionError and a 500; a NUL in a string or a key is refused by
PostgreSQL (text and JSON columns) and would be a 500 there and fine on SQLite. Both are 400s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64


class JsonRefused(ValueError):
    """Valid JSON the hub will not take: too deep, or holding a NUL."""


def json_shape_check(value: Any, *, limit: int = MAX_JSON_DEPTH, refuse_nul: bool = True) -> None:
    """Raise ``JsonRefused`` when arrays and objects nest more than ``limit`` levels or a string
    or key holds a NUL (iteratively: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if refuse_nul and "\x00" in item:
                raise JsonRefused("JSON strings may not contain NUL (\\u0000) characters.")
            continue
        if isinstance(item, dict):
            children: Any = [*item.keys(), *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise JsonRefused(f"JSON nests more than {limit} levels deep.")
        stack.extend((child, depth + 1) for child in children)


def loads_bounded(text: str | bytes) -> Any:
    """``json.loads`` for socket frames: a deep document is a ``ValueError`` (a ``RecursionError``
    too). NULs are left to the field checks, which name the field."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonRefused(f"JSON nests more than {MAX_JSON_DEPTH} levels deep.") from None
    json_shape_check(value, refuse_nul=False)
    return value


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nests more than {MAX_JSON_DEPTH} levels deep.") from None
        try:
            json_shape_check(data)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data
