"""The one-hop HTTP handler: the whole synchronous request in one worker thread, the same answers
and the same security checks as Django's handler, the database connection given back before the
bytes leave."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from django.core import signals
from django.core.handlers.asgi import ASGIHandler

from orchestra_site.asgi_handler import OneHopASGIHandler, http_application
from tests.support.asgi_scopes import asgi_exchange, response_body

pytestmark = pytest.mark.django_db(transaction=True)


async def call(app: Any, method: str, path: str, body: object = None, **headers: bytes) -> tuple[int, bytes, list[str]]:
    """One request through ``app``; returns status, body and the order of what happened."""
    data = b"" if body is None else json.dumps(body).encode()
    sent = await asgi_exchange(app, method, path, data, **headers)
    return sent[0]["status"], response_body(sent), [message["type"] for message in sent]


def test_both_deployments_serve_http_through_the_one_hop_handler() -> None:
    app = http_application()

    assert isinstance(app, OneHopASGIHandler)
    assert isinstance(app, ASGIHandler)


def test_the_signals_middleware_and_view_run_in_one_worker_thread_and_finish_before_sending() -> None:
    app = OneHopASGIHandler(workers=2)
    threads: dict[str, str] = {}
    order: list[str] = []

    def started(**_: Any) -> None:
        threads["started"] = threading.current_thread().name
        order.append("request_started")

    def finished(**_: Any) -> None:
        threads["finished"] = threading.current_thread().name
        order.append("request_finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        status, body, sent = asyncio.run(
            call(app, "PUT", "/api/orchestration/workspace/%2Fsrv%2Fa/desired", {"desired": 2})
        )
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert status == 200 and json.loads(body)["workspace"]["desired"] == 2
    assert threads["started"] == threads["finished"] and threads["started"].startswith("http")
    assert threading.current_thread().name != threads["started"]
    assert order == ["request_started", "request_finished"] and sent[0] == "http.response.start"


def test_the_same_answers_as_djangos_handler_including_security_refusals() -> None:
    one_hop, django_handler = OneHopASGIHandler(workers=1), ASGIHandler()
    cases: list[tuple[str, str, object, dict[str, bytes]]] = [
        ("GET", "/health", None, {}),
        ("PUT", "/api/orchestration/workspace/%2Fsrv%2Fb/desired", {"desired": "x"}, {}),  # names the field
        ("GET", "/health", None, {"host": b"rebound.example"}),  # a Host not allowed
        ("POST", "/projects", {"name": "p"}, {"origin": b"https://evil.example"}),  # a foreign page's write
        ("GET", "/projects/999999", None, {}),
    ]
    statuses = []
    for method, path, body, headers in cases:
        mine = asyncio.run(call(one_hop, method, path, body, **headers))
        theirs = asyncio.run(call(django_handler, method, path, body, **headers))
        assert (mine[0], mine[1]) == (theirs[0], theirs[1]), (method, path, headers)
        statuses.append(mine[0])
    assert statuses == [200, 400, 400, 403, 404]


def test_a_static_file_streams_through_the_one_hop_handler() -> None:
    status, body, sent = asyncio.run(call(OneHopASGIHandler(workers=1), "GET", "/static/console/console.css"))
    assert status == 200 and b"{" in body and sent[0] == "http.response.start"
