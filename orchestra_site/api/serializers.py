"""Output serializers that read plain columns without DRF's per-field machinery.

A read-only ``ModelSerializer`` answers each field through ``get_attribute`` and
``to_representation``, some microseconds a field: a 300-node graph cost several times what
building the same dicts by hand did. ``FastReadSerializer`` keeps the serializer (the one shape
for the answer, the schema and the event) and, once per serializer, sorts its readable fields:

- a plain column whose representation is its Python value (text, numbers, booleans, choices) is
  read with ``getattr`` and used as it is when it already has that type;
- any other field read from one attribute (a timestamp, nested metadata, a list of ids) is read with
  ``getattr`` and represented by the field itself;
- the rest (a source path, ``*``, a method, a callable attribute, a field that reads its value its
  own way) go through DRF as before.

The output is the dict DRF would build, key for key (``orchestra_site/tests/test_fast_read.py``
compares the two on every output serializer). ``to_json`` keeps one serializer instance per class,
so a response or an event does not build a ``ModelSerializer``'s fields again each time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from rest_framework import serializers

# Fields whose to_representation returns the stored value unchanged when it already has this type.
_PLAIN: dict[type[serializers.Field], type] = {
    serializers.CharField: str,
    serializers.IntegerField: int,
    serializers.FloatField: float,
    serializers.BooleanField: bool,
    serializers.ChoiceField: str,
}

# (key, attribute to read or None for DRF's own get_attribute, the type kept as it is, the field)
Reader = tuple[str, str | None, type | None, serializers.Field]


class FastReadMixin:
    """The fast ``to_representation`` for any output serializer (model or plain object)."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if isinstance(instance, Mapping):
            return dict(super().to_representation(instance))  # type: ignore[misc]
        answer: dict[str, Any] = {}
        for name, attribute, plain_type, field in self._readers():
            if attribute is not None:
                value = getattr(instance, attribute)
                if value is None or type(value) is plain_type:
                    answer[name] = value
                    continue
                if plain_type is list and _all_ints(value):  # a list of ids
                    answer[name] = list(value)
                    continue
                if callable(value):  # a method as source: DRF calls it
                    value = field.get_attribute(instance)
            else:
                value = field.get_attribute(instance)
            answer[name] = None if value is None else field.to_representation(value)
        return answer

    def _readers(self) -> list[Reader]:
        readers: list[Reader] | None = self.__dict__.get("_fast_readers")
        if readers is None:
            readers = [_reader(field) for field in self._readable_fields]  # type: ignore[attr-defined]
            self.__dict__["_fast_readers"] = readers
        return readers


class FastReadSerializer(FastReadMixin, serializers.ModelSerializer):
    pass


def _all_ints(value: Any) -> bool:
    return type(value) is list and all(type(item) is int for item in value)


def _reader(field: serializers.Field) -> Reader:
    assert field.field_name is not None  # bound: the serializer's fields
    own_reading = type(field).get_attribute is not serializers.Field.get_attribute
    if own_reading or len(field.source_attrs) != 1 or field.source == "*":
        return (field.field_name, None, None, field)
    plain_type = _PLAIN.get(type(field))
    if type(field) is serializers.ListField and type(field.child) is serializers.IntegerField:
        plain_type = list
    return (field.field_name, field.source_attrs[0], plain_type, field)


def to_json(serializer_class: type[serializers.Serializer], instance: Any) -> dict[str, Any]:
    """``serializer_class(instance).data``, without building the serializer's fields on every call.

    A ``ModelSerializer`` derives its fields from the model each time one is made (about a
    millisecond for a node, against some microseconds to serialize it), and every node or run
    change serializes a response and an event. So one instance per class is kept; its
    ``to_representation`` holds no per-call state.
    """
    return _shared(serializer_class).to_representation(instance)


def to_json_list(serializer_class: type[serializers.Serializer], instances: Iterable[Any]) -> list[dict[str, Any]]:
    shared = _shared(serializer_class)
    return [shared.to_representation(instance) for instance in instances]


@cache
def _shared(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()
