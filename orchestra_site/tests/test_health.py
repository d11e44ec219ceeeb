from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_health_says_the_database_and_the_channel_layer_answer(settings) -> None:  # type: ignore[no-untyped-def]
    response = APIClient().get("/health", content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "2.0.0",
        "database": True,
        "channel_layer": True,
        "channel_layer_backend": "redis" if settings.REDIS_URL else "in-memory",
    }
