"""Checks a hub process makes before it takes any work: its database and Redis answer, its schema
is current. Each failure is one line naming the setting, within seconds, instead of a traceback
half a minute later (or, for Redis, a hub that answers while its events go nowhere)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

CONNECT_TIMEOUT_SECONDS = 4


def database_check() -> None:
    """Connect once, directly (not through the pool, which would wait 30 s), with a short timeout."""
    if connection.vendor == "postgresql":
        import psycopg

        params = {
            k: v
            for k, v in connection.get_connection_params().items()
            if k in ("dbname", "user", "host", "port", "password")
        }
        try:
            psycopg.connect(**params, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(f"ORCHESTRA_DATABASE_URL: cannot reach the database ({reason}).") from None
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        raise CommandError(f"ORCHESTRA_DATABASE_URL: cannot open the database ({exc}).") from None


def redis_check() -> None:
    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=CONNECT_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except (redis.RedisError, OSError, ValueError) as exc:
        where = urlsplit(settings.REDIS_URL)._replace(netloc=urlsplit(settings.REDIS_URL).netloc.rpartition("@")[2])
        raise CommandError(f"ORCHESTRA_REDIS_URL: cannot reach Redis at {urlunsplit(where)} ({exc}).") from None
    finally:
        client.close()


def schema_check(*, write: Callable[[str], object] = print) -> None:
    """The embedded SQLite database is the hub's own: migrate it. A shared PostgreSQL is migrated
    on purpose, once, by its operator (several processes must not race to do it)."""
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not pending:
        return
    if connection.vendor == "sqlite":
        write(f"Migrating the embedded database ({len(pending)} migration(s))...")
        call_command("migrate", interactive=False, verbosity=0)
        return
    raise CommandError(
        f"ORCHESTRA_DATABASE_URL: the database lacks {len(pending)} migration(s): "
        "run `python manage.py migrate` once, then start the hub."
    )


def preflight(*, write: Callable[[str], object] = print, migrate: bool = True) -> None:
    database_check()
    redis_check()
    if migrate:
        schema_check(write=write)
