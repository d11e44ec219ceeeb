"""What runs in which pass, and in what order.

The ``database`` marker: set at collection on every test that reaches the database or the
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


def shares_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)  # pytest's own, on every test function
    definitions = info.name2fixturedefs.values() if info is not None else ()
    return any(defs and defs[-1].scope in ("module", "package") for defs in definitions)


def pytest_itemcollected(item: pytest.Item) -> None:
    if reaches_the_database(item):
        item.add_marker(pytest.mark.database)
    # The tests of a file that share a module fixture (a running hub, a browser) go to one worker
    # together (``--dist loadgroup``), which starts it once. Only tests without the database: those
    # may run in any order, while Django's order must hold for the others.
    if django_order(item) == 2 and shares_a_module_fixture(item):
        item.add_marker(pytest.mark.xdist_group(str(item.path.relative_to(item.config.rootpath))))


def django_order(item: pytest.Item) -> int:
    """Django's order, which pytest-django keeps: tests inside a rolled-back transaction (0) before
    transactional ones (1), which empty the tables; tests without the database (2) anywhere."""
    marker = item.get_closest_marker("django_db")
    fixtures = set(getattr(item, "fixturenames", ()))
    if marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return 1
    if fixtures & {"transactional_db", "live_server", "django_db_reset_sequences"}:
        return 1
    return 0 if marker or fixtures & DATABASE_FIXTURES else 2


@pytest.hookimpl(trylast=True)  # after pytest-django's own sort
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Within Django's order, files with tests that start processes (markers ``slow``, ``cli``) run
    first, and those without the database before everything: with pytest-xdist's load scheduling
    the long tests then run beside the many short ones instead of ending the run alone."""
    starts_processes = {
        item.path for item in items if item.get_closest_marker("slow") or item.get_closest_marker("cli")
    }

    def order(item: pytest.Item) -> tuple[int, bool]:
        rank = django_order(item)
        if rank == 2 and item.path in starts_processes:
            rank = -1
        return rank, item.path not in starts_processes

    items.sort(key=order)
