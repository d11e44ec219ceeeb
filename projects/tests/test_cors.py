from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

DESKTOP_ORIGINS = ["http://localhost:1420", "http://localhost:5173", "tauri://localhost", "https://tauri.localhost"]


def preflight(client, path, origin, method="PATCH"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )


@pytest.mark.parametrize("origin", DESKTOP_ORIGINS)
@pytest.mark.parametrize("path", ["/projects", "/projects/1/nodes/2", "/tasks/3", "/projects/1/plan", "/no/such/route"])
def test_the_desktop_origins_pass_the_preflight_on_every_route(api_client, origin, path):
    response = preflight(api_client, path, origin)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == origin
    assert response["Access-Control-Allow-Credentials"] == "true"
    methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PATCH", "DELETE"} <= methods
    assert "content-type" in response["Access-Control-Allow-Headers"].lower()


def test_a_foreign_origin_gets_a_400_preflight_without_cors_headers(api_client):
    response = preflight(api_client, "/projects", "https://evil.example")

    assert response.status_code == 400
    assert response.json() == {"detail": "Disallowed CORS origin", "message": "Disallowed CORS origin"}
    assert "Access-Control-Allow-Origin" not in response


def test_actual_responses_carry_the_origin_for_the_desktop_app(api_client):
    allowed = api_client.get(reverse("project-list"), HTTP_ORIGIN="tauri://localhost")
    foreign = api_client.get(reverse("project-list"), HTTP_ORIGIN="https://evil.example")

    assert allowed["Access-Control-Allow-Origin"] == "tauri://localhost"
    assert "Access-Control-Allow-Origin" not in foreign


def test_a_plain_options_request_is_not_a_preflight(api_client):
    assert api_client.options(reverse("project-list")).status_code == 200
