from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from orchestra_site.heartbeat import HUB_PROCESS_ENV
from orchestra_site.models import HubProcess
from orchestra_site.services import hub_process_register

pytestmark = pytest.mark.django_db


def test_health_says_the_database_and_the_channel_layer_answer(settings) -> None:  # type: ignore[no-untyped-def]
    response = APIClient().get("/health", content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "2.0.0",
        "database": True,
        "database_writable": None,
        "heartbeat_age_seconds": None,
        "channel_layer": True,
        "channel_layer_backend": "redis" if settings.REDIS_URL else "in-memory",
        "reasons": [],
    }


def test_health_writes_and_reads_the_heartbeat_of_the_serving_process(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    process = hub_process_register(kind=HubProcess.KIND_SERVE)
    monkeypatch.setenv(HUB_PROCESS_ENV, str(process.pk))
    body = APIClient().get("/health").json()
    assert body["status"] == "ok"
    assert body["database_writable"] is True
    assert 0 <= body["heartbeat_age_seconds"] < 5


def test_health_is_degraded_when_the_heartbeat_is_stale(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings.RUNNER_DEAD_AFTER = 30
    process = hub_process_register(kind=HubProcess.KIND_SERVE)
    HubProcess.objects.filter(pk=process.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=40))
    monkeypatch.setenv(HUB_PROCESS_ENV, str(process.pk))
    response = APIClient().get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["reasons"] == [
        "this hub's heartbeat is 40 s old: it stops its agents after 15 s and peers reap them after 30 s "
        "(ORCHESTRA_RUNNER_DEAD_AFTER)"
    ]


def test_health_is_degraded_when_the_database_refuses_writes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    process = hub_process_register(kind=HubProcess.KIND_SERVE)
    monkeypatch.setenv(HUB_PROCESS_ENV, str(process.pk))
    # A database that refuses every write, as a full disk or a read-only replica does; undone by
    # rolling back to the savepoint (SQLite: its own switch).
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "PRAGMA query_only = ON" if connection.vendor == "sqlite" else "SET LOCAL transaction_read_only = on"
            )
        response = APIClient().get("/health")
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA query_only = OFF")
        transaction.set_rollback(True)
    assert response.status_code == 503
    body = response.json()
    assert body["database"] is True
    assert body["database_writable"] is False
    assert body["reasons"][0].startswith("the database refused a write: ")
