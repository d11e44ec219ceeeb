"""Insert one row only if some rows exist, in one statement.

A create that must first check other rows (the project is there, every parent is one of its
nodes) costs a query per check and then the ``INSERT``. ``insert_if_counts`` folds the checks into
the ``INSERT``: ``INSERT INTO t (...) SELECT <values> WHERE (SELECT COUNT(*) FROM (<check>)) = n
AND ... RETURNING id``. The database inserts the row only when every check returns its number of
rows, within the one statement, so nothing can change between the check and the write; when it
inserts nothing the caller finds out which check failed (the rare path, which may cost more
queries).

A check is a ``SELECT`` with its parameters, written by the caller for its tables: on the hot path
of a node creation, building and compiling two querysets for them cost a fifth of the request.

The values are prepared as Django's own ``INSERT`` prepares them (``pre_save`` and
``get_db_prep_save`` of each concrete field), so defaults, JSON and dates are stored the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connections, models, router

M = TypeVar("M", bound=models.Model)
# A SELECT, its parameters, and the number of rows it must return.
Check = tuple[str, Sequence[Any], int]


def insert_if_counts(instance: M, *, counts: Sequence[Check]) -> bool:
    """Insert ``instance`` (unsaved, auto primary key) if each check returns exactly its count of rows.

    Returns whether it was inserted; if so, its primary key is set and it is saved as far as Django
    is concerned. An empty ``counts`` inserts unconditionally.
    """
    model = type(instance)
    alias = router.db_for_write(model, instance=instance)
    connection = connections[alias]
    assert connection.features.can_return_columns_from_insert, "needs INSERT ... RETURNING"
    meta = model._meta
    assert meta.pk is not None and instance.pk is None
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    columns = [str(field.column) for field in fields]
    values = [field.get_db_prep_save(field.pre_save(instance, add=True), connection) for field in fields]
    quote = connection.ops.quote_name
    conditions: list[str] = []
    params: list[Any] = list(values)
    for sql, check_params, expected in counts:
        conditions.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted) = %s")
        params += [*check_params, expected]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    statement = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(column) for column in columns)}) "
        f"SELECT {', '.join(['%s'] * len(values))}{where} RETURNING {quote(str(meta.pk.column))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = alias
    return True
