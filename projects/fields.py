"""Strict input fields (a wrong JSON type is a 400 naming the field, never a silent coercion or a
500) and the output fields of the contract's timestamps and JSON objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rest_framework import serializers

# Ids and integers beyond the database's 64-bit range are refused here instead of overflowing there.
from orchestra_site.api.routers import MAX_DB_ID


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, so JS ``new Date()`` shows local time correctly."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def is_storable_text(value: str) -> bool:
    """No NUL (PostgreSQL refuses it) and no lone surrogate (not encodable as UTF-8)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_storable_json(value: Any) -> bool:
    if isinstance(value, str):
        return is_storable_text(value)
    if isinstance(value, dict):
        return all(is_storable_text(key) and is_storable_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(is_storable_json(item) for item in value)
    return True


class StrictCharField(serializers.CharField):
    """A JSON string, kept exactly as sent (no trimming); numbers and booleans are refused."""

    default_error_messages = {"invalid": "Must be a string.", "unstorable": "Must not contain NUL or lone surrogates."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if not is_storable_text(data):
            self.fail("unstorable")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A JSON number; strings and booleans are refused."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer within the 64-bit range; booleans are refused."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", -MAX_DB_ID)
        kwargs.setdefault("max_value", MAX_DB_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class IdField(StrictIntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)


class JSONObjectField(serializers.DictField):
    """Any JSON object, stored as given."""

    default_error_messages = {"unstorable": "Must not contain NUL or lone surrogates."}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        if not is_storable_json(data):
            self.fail("unstorable")
        return data


class HubDateTimeField(serializers.DateTimeField):
    """ISO 8601 with or without an offset (naive means UTC), or a bare ``YYYY-MM-DD`` (midnight)."""

    default_error_messages = {"out_of_range": "Datetime value out of range."}

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str):
            self.fail("invalid", format="ISO 8601")
        try:
            return super().to_internal_value(value)
        except (OverflowError, ValueError):
            self.fail("out_of_range")


class UtcDateTimeField(serializers.DateTimeField):
    """A timestamp as the contract writes it: UTC with a ``Z`` (see ``iso``), whatever the active zone."""

    def to_representation(self, value: datetime) -> str:
        # A serializer writes null itself and never passes None here.
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class JSONObjectOutputField(serializers.DictField):
    """A stored JSON object as given; anything else an older row or the admin left there reads as ``{}``."""

    def to_representation(self, value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}


class StrictBooleanField(serializers.BooleanField):
    """A JSON boolean; ``"true"``, ``1`` and the other spellings DRF accepts are refused."""

    default_error_messages = {"invalid": "Must be a boolean."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class RejectUnknownKeysMixin:
    """A body key the serializer does not declare is a 400 naming it, not silently dropped.

    ``ignored_keys`` are accepted and dropped (the contract's ``node_id``, which the path overrides).
    """

    ignored_keys: frozenset[str] = frozenset()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            declared = set(self.fields)  # type: ignore[attr-defined]
            unknown = sorted(key for key in data if key not in declared and key not in self.ignored_keys)
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
            data = {key: value for key, value in data.items() if key not in self.ignored_keys}
        return super().to_internal_value(data)  # type: ignore[misc]
