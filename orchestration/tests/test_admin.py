from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from orchestra_site.realtime import events as realtime_events
from orchestration import services
from orchestration.models import Totals, Workspace
from orchestration.selectors import global_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw-for-tests"))
    return client


def test_the_list_shows_running_desired_and_activity_and_searches_by_path(operator: Client) -> None:
    services.workspace_set_desired(path="/srv/alpha", desired=2)
    services.workspace_set_desired(path="/srv/beta", desired=1)
    page = operator.get("/admin/orchestration/workspace/", {"q": "alpha"}).content.decode()
    assert "/srv/alpha" in page and "/srv/beta" not in page


def test_editing_desired_goes_through_the_service(
    operator: Client, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivered: list[str] = []
    monkeypatch.setattr(
        realtime_events,
        "deliver",
        lambda group, frames: delivered.extend(json.loads(text)["event"] for text, _ in frames),
    )
    services.workspace_set_desired(path="/srv/alpha", desired=2)
    workspace = Workspace.objects.get()
    before = global_state().version
    with django_capture_on_commit_callbacks() as callbacks:
        response = operator.post(f"/admin/orchestration/workspace/{workspace.pk}/change/", {"desired": 5})
    assert response.status_code == 302
    assert Workspace.objects.get().desired == 5
    assert (Totals.objects.get().desired, global_state().version) == (5, before + 1)
    delivered.clear()
    for callback in callbacks:  # the delivery, and the runners' wake-up
        callback()
    assert delivered == ["orchestration.global", "orchestration.workspace"]  # one delivery of both, in order


def test_an_out_of_range_desired_is_refused_in_the_form(operator: Client, settings) -> None:  # type: ignore[no-untyped-def]
    services.workspace_set_desired(path="/srv/alpha", desired=2)
    workspace = Workspace.objects.get()
    response = operator.post(f"/admin/orchestration/workspace/{workspace.pk}/change/", {"desired": 99})
    assert response.status_code == 200
    assert "must be from 0 to 20, got 99." in response.content.decode()
    assert Workspace.objects.get().desired == 2


def test_deleting_a_workspace_moves_the_totals(operator: Client) -> None:
    services.workspace_set_desired(path="/srv/alpha", desired=2)
    services.workspace_set_desired(path="/srv/beta", desired=3)
    workspace = Workspace.objects.get(path="/srv/alpha")
    operator.post(f"/admin/orchestration/workspace/{workspace.pk}/delete/", {"post": "yes"})
    assert Totals.objects.get().desired == 3


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/tmp/../etc", "must not contain &#x27;.&#x27; or &#x27;..&#x27; segments."),
        ("/srv/" + "x" * 1100, "at most 1024 characters"),
        ("/srv/\x01bell", "must not contain control characters."),
    ],
)
def test_a_workspace_path_the_service_refuses_is_a_form_error_not_a_500(
    operator: Client, path: str, error: str
) -> None:
    response = operator.post("/admin/orchestration/workspace/add/", {"path": path, "desired": 1})
    assert response.status_code == 200
    page = response.content.decode()
    assert "errorlist" in page and error in page
    assert not Workspace.objects.exists()


def test_a_refusal_at_save_time_is_a_message_not_a_500(operator: Client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from orchestra_site.api.exceptions import Conflict

    def refuse(**kwargs: object) -> None:
        raise Conflict("desired: another operator changed it first")

    monkeypatch.setattr(services, "workspace_set_desired", refuse)
    response = operator.post("/admin/orchestration/workspace/add/", {"path": "/srv/alpha", "desired": 1}, follow=True)
    assert response.status_code == 200
    assert "Not saved: desired: another operator changed it first" in response.content.decode()
    assert not Workspace.objects.exists()
