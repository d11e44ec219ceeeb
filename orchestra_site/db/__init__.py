"""The hub's database layer: its SQLite backend (``sqlite3/``) and what services ask of the database."""

from __future__ import annotations

from django.db import connection


def writes_serialised() -> bool:
    """True on SQLite with ``BEGIN IMMEDIATE`` (the hub's setting): a transaction that writes holds
    the database's write lock from its first statement, so no other writer runs beside it and a
    value read by one statement cannot change before the next. Services then need no row locks."""
    return connection.vendor == "sqlite" and getattr(connection, "transaction_mode", None) == "IMMEDIATE"
