"""The serializer fields the agents API is strict with, in both directions.

Input: strings are never coerced from numbers, booleans are only ``true`` or ``false``, numbers
are finite, ids fit a 64-bit column. Output: ``metadata`` is always an object, whatever the admin
left in the column.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

from orchestra_site.api.routers import MAX_DB_ID


class StrictCharField(serializers.CharField):
    """A JSON string only (no numbers turned into text), kept exactly as sent: no trimming."""

    default_error_messages = {"invalid": "Must be a string."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no database can store it
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class FiniteFloatField(serializers.FloatField):
    default_error_messages = {"invalid": "A finite number is required."}

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, (int, float)) or not math.isfinite(data):
            self.fail("invalid")
        return float(data)


MAX_BUDGET_USD = 1_000_000.0


class BudgetField(FiniteFloatField):
    """``max_budget_usd``: an amount of USD greater than 0 and at most ``MAX_BUDGET_USD``, or null."""

    default_error_messages = {"invalid": f"An amount of USD greater than 0 and at most {MAX_BUDGET_USD:g} is required."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("help_text", "The most one agent may spend, in USD; the smallest budget that applies wins.")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if not 0 < value <= MAX_BUDGET_USD:
            self.fail("invalid")
        return value


class ObjectField(serializers.DictField):
    """A JSON object; in an answer, a stored value that is not an object reads as ``{}``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=serializers.JSONField(), **kwargs)

    def to_representation(self, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}


class OffsetDateTimeField(serializers.DateTimeField):
    """``2025-03-01T14:07:22.123456+00:00``: the offset form the log pages have always sent."""

    def to_representation(self, value: Any) -> str:
        return str(value.isoformat())


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """Any 64-bit integer: an id that names no row is the service's semantic 400/404, not a type error."""
    return serializers.IntegerField(min_value=-MAX_DB_ID - 1, max_value=MAX_DB_ID, **kwargs)
