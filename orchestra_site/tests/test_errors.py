from __future__ import annotations

import pytest
from django.urls import path
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_an_unknown_route_is_a_json_404() -> None:
    response = APIClient().get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found", "message": "Not Found"}


def test_a_known_route_with_the_wrong_method_is_a_json_405() -> None:
    response = APIClient().delete("/health")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed", "message": "Method Not Allowed"}


def boom(request):
    raise RuntimeError("kaboom")


urlpatterns = [path("boom", boom)]


def test_an_unhandled_error_is_a_json_500(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ROOT_URLCONF = __name__
    client = APIClient(raise_request_exception=False)
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error", "message": "Internal Server Error"}


def test_a_body_over_the_size_limit_is_a_json_413(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = APIClient().post("/projects", {"name": "x" * 2000}, format="json")
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large.", "message": "Request body too large."}
