"""How the tables are emptied after each transactional test (``django_db(transaction=True)``).

Django's flush truncates every table, then sends ``post_migrate`` again, whose receivers write the
content types and permissions back, one app at a time. Both were most of a transactional test's
cost: about a second a test on PostgreSQL (a ``TRUNCATE`` gives each table and index a new file)
and a third of a second on either database (the signal). Here instead:

- the content types and permissions that ``migrate`` wrote are kept (they are what ``post_migrate``
  would write again; the hub's code never adds or removes any), so the signal is not sent again;
- every other table is emptied, on PostgreSQL by ``DELETE`` in one transaction (the foreign keys
  Django creates are deferrable, so the order does not matter), on SQLite as Django does it.

The tables end as empty as before. A flush that resets sequences (``reset_sequences=True``) is
Django's own. Tests only: ``manage.py flush`` is untouched.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush
from django.core.management.sql import emit_post_migrate_signal, sql_flush
from django.db.backends.base.base import BaseDatabaseWrapper

# Rows ``migrate`` writes through ``post_migrate``: left in place, so the signal need not run again.
KEPT_TABLES = frozenset({"django_content_type", "auth_permission"})
_last_flush_kept_them = False


def sql_flush_keeping_migrated_rows(
    style: Any, connection: BaseDatabaseWrapper, reset_sequences: bool = True, allow_cascade: bool = False
) -> list[str]:
    global _last_flush_kept_them
    _last_flush_kept_them = not reset_sequences
    if reset_sequences:
        return sql_flush(style, connection, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    names = connection.introspection.django_table_names(only_existing=True, include_views=False)
    tables = [name for name in names if name not in KEPT_TABLES]
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        return ["SET CONSTRAINTS ALL DEFERRED", *(f"DELETE FROM {quote(table)}" for table in tables)]
    return list(connection.ops.sql_flush(style, tables, reset_sequences=False, allow_cascade=allow_cascade))


def post_migrate_unless_kept(verbosity: int, interactive: bool, db: str, **kwargs: Any) -> None:
    """Nothing to do after a flush that kept what ``post_migrate`` writes; Django's signal after any
    other (``migrate`` itself never comes here)."""
    if not _last_flush_kept_them:
        emit_post_migrate_signal(verbosity, interactive, db, **kwargs)


flush.sql_flush = sql_flush_keeping_migrated_rows  # type: ignore[attr-defined]  # imported there, absent from the stubs
flush.emit_post_migrate_signal = post_migrate_unless_kept  # type: ignore[attr-defined]  # imported there, absent from the stubs
