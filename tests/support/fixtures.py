"""The fixtures every app's tests share: folders inside the allowed roots, a loopback API client, the
worker's own Redis prefix, and which database this pass runs on."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.conf import settings
from django.test.client import RequestFactory
from rest_framework.test import APIClient

from tests.hub_processes import redis_prefix

# Parallel workers (pytest-xdist) share one Redis: groups such as orchestration.global must not
# carry one worker's frames to the other's sockets. This process's layer (none exists yet) and
# the hub processes the tests start (they inherit the environment) use the worker's prefix.
os.environ["ORCHESTRA_REDIS_PREFIX"] = redis_prefix()
if settings.REDIS_URL:
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = redis_prefix()


@pytest.fixture(autouse=True)
def _hub_dirs(tmp_path, settings):
    """Each test gets its own workspaces and worktrees folders inside the allowed roots."""
    settings.WORKSPACES_DIR = tmp_path / "workspaces"
    settings.WORKTREES_DIR = tmp_path / "worktrees"
    settings.WORKSPACE_ROOTS = [tmp_path]


@pytest.fixture(autouse=True)
def _test_client_host_is_loopback(settings):
    """Django's test client speaks as ``Host: testserver`` (which Django's test set-up adds to
    ``ALLOWED_HOSTS``); count it as a loopback name, as ``localhost`` is for a real client."""
    settings.LOOPBACK_HOSTS = [*settings.LOOPBACK_HOSTS, "testserver"]


@pytest.fixture(autouse=True)
def _test_client_sends_host(monkeypatch):
    """Django's test client sends no ``Host`` header (Django falls back to ``SERVER_NAME``); every
    real client does, and loopback trust requires one. Send ``Host: testserver`` unless a test
    names another."""
    base_environ = RequestFactory._base_environ  # type: ignore[attr-defined]  # private, absent from the stubs

    def with_host(self: RequestFactory, **request: Any) -> dict[str, Any]:
        environ = base_environ(self, **request)
        environ.setdefault("HTTP_HOST", environ["SERVER_NAME"])
        return environ

    monkeypatch.setattr(RequestFactory, "_base_environ", with_host)


@pytest.fixture
def api_client() -> APIClient:
    """A client on loopback, which the hub trusts by default (``ORCHESTRA_TRUST_LOOPBACK``)."""
    return APIClient()


@pytest.fixture
def untrusted_loopback(settings):
    settings.TRUST_LOOPBACK = False
    return settings


def database_vendor() -> str:
    return settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]


requires_postgres = pytest.mark.skipif(
    database_vendor() != "postgresql", reason="runs in the PostgreSQL pass of `make test`"
)
