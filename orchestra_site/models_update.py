"""Partial updates of one row, the same way in every app.

``model_update`` writes the allowed keys of ``data`` that differ from the instance (SQL expressions
such as ``F()`` or ``Coalesce`` always count as changes) and stamps ``updated_at`` when the model
has one, in one ``UPDATE``. The stamp is written even when no value differs: an update the client
asked for is a write it can see in ``updated_at``, as it always was for the desktop app's PATCHes.
``expect`` makes it a compare-and-set: the row must still hold those values (say, the status read a
moment ago), or nothing is written and ``RowChanged`` is raised. ``update_rows`` is the same stamp
for a queryset's conditional ``UPDATE``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone

M = TypeVar("M", bound=models.Model)


class RowChanged(Exception):
    """The row no longer held the expected values: another writer came first."""


def _has_updated_at(model: type[models.Model]) -> bool:
    try:
        model._meta.get_field("updated_at")
    except FieldDoesNotExist:
        return False
    return True


def _is_expression(value: object) -> bool:
    return hasattr(value, "resolve_expression")


def model_update(
    instance: M,
    *,
    data: Mapping[str, Any],
    fields: Iterable[str],
    expect: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[M, bool]:
    """Write the keys of ``data`` named in ``fields`` that change ``instance`` (and ``updated_at``);
    return it (re-read) and whether a value changed. Keys outside ``fields`` are ignored."""
    values: dict[str, Any] = {}
    for name in fields:
        if name not in data:
            continue
        value = data[name]
        if _is_expression(value) or getattr(instance, name) != value:
            values[name] = value
    changed = bool(values)
    model = type(instance)
    if _has_updated_at(model) and "updated_at" not in values:
        values["updated_at"] = now or timezone.now()
    if not values:
        return instance, False
    written = model._default_manager.filter(pk=instance.pk, **(expect or {})).update(**values)
    if not written:
        raise RowChanged(f"{model.__name__} {instance.pk} changed meanwhile")
    instance.refresh_from_db()
    return instance, changed


def update_rows(queryset: models.QuerySet[Any], *, now: datetime | None = None, **values: Any) -> int:
    """``queryset.update(**values)`` with ``updated_at`` stamped (``now``, default the current time)
    when the model has it; the number of rows written. The queryset's filter is the condition."""
    if _has_updated_at(queryset.model) and "updated_at" not in values:
        values["updated_at"] = now or timezone.now()
    return queryset.update(**values)
