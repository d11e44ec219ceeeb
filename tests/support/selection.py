"""The ``database`` marker: set at collection on every test that reaches the database or the
channel layer, which is what the PostgreSQL + Redis pass of ``make test`` runs again.

A test reaches the database only through pytest-django's ``django_db`` marker or its database
fixtures (anything else is refused by pytest-django), and the channel layer almost always beside
it (a socket's consumer reads and writes rows). Marked too: tests marked ``postgres``, ``redis`` or
``fuzz``, and tests with a ``skipif`` (those that run on PostgreSQL only). A test that reaches the
layer without the database (an ``EventHub`` of its own) is marked ``database`` by hand; a test that
reaches neither (parsers, argv, git, process trees, the collector) gains nothing from a second run.
"""

from __future__ import annotations

import pytest

DATABASE_FIXTURES = frozenset(
    {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}
)
DATABASE_MARKERS = ("django_db", "postgres", "redis", "fuzz", "skipif")


def reaches_the_database(item: pytest.Item) -> bool:
    if any(item.get_closest_marker(name) for name in DATABASE_MARKERS):
        return True
    return bool(DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ())))


def pytest_itemcollected(item: pytest.Item) -> None:
    if reaches_the_database(item):
        item.add_marker(pytest.mark.database)
