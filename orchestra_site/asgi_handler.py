"""Django's ASGI handler with each request's synchronous part in one thread hop.

Django's own ``ASGIHandler`` runs an async middleware chain: every synchronous middleware (all of
ours and Django's ``MiddlewareMixin`` ones) is entered through ``sync_to_async`` for its request
half and again for its response half, the view once more, the ``request_started`` and
``request_finished`` signals once each, and every request gets a new thread for them
(``ThreadSensitiveContext``), hence a new database connection. That is a dozen hops between the
event loop and a thread, and most of the served request's time (docs/benchmarks.md, "Where the
time goes").

Here the body is read on the event loop, then one call in a worker thread does what a WSGI
server would: ``request_started``, the whole synchronous middleware chain and the view, and, for
an ordinary response, ``close()`` (``request_finished``: the database connection is given back)
before the bytes are sent from the loop. The workers are a fixed pool, so their database
connections are reused. Same middleware, same order, same checks on every path; streaming
responses (static files) are sent and closed as Django does.

Both deployments use it. PostgreSQL + Redis kept Django's handler for a while, because one
in-process measurement had the one hop at 0.5 to 0.85 times Django's on ``PUT desired``. That did
not hold up: on PostgreSQL a request is mostly round trips to the server (the pool's check of the
connection it hands out, ``BEGIN``, three statements, ``COMMIT``), each of which waits for the
PostgreSQL backend process to be scheduled, and on the two shared cores of the bench machine that
wait swings single rounds by 2x (49 to 132 requests a second for the same handler in one run),
enough to invert a ratio taken from a few rounds. Measured again in alternating rounds on the same
busy machine, the one hop was 1.65 times Django's handler in process with one client and 1.17
times with 16, and through ``serve`` with 16 clients 1.2 to 1.4 times on ``PUT desired`` and about
the same on node creation. Besides the hops it saves Django's new thread per request.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

# Four threads: one would leave every request behind a slow one; on SQLite more would only queue
# for its one write lock, and on PostgreSQL each holds one of the pool's connections
# (ORCHESTRA_DB_POOL_SIZE, 10 by default) during a request, which sockets and the runner share.
HTTP_WORKERS = 4
# Requests that wait for an agent (a plan: seconds to minutes) run on threads of their own, never
# on the four above, so any number of plans leaves every other request its threads. The lane has
# two threads more than plans may run at once (ORCHESTRA_PLAN_CONCURRENCY), which answer the
# plans over that cap with a 429 at once.
AGENT_REQUEST_PATHS = re.compile(r"/projects/[^/]+/plan/?")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


def http_application() -> ASGIHandler:
    """The one-hop handler, on both deployments (the module's docstring says why)."""
    return OneHopASGIHandler(workers=HTTP_WORKERS)


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, workers: int = HTTP_WORKERS) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="http")
        self.agent_executor = ThreadPoolExecutor(
            max_workers=settings.PLAN_CONCURRENCY + 2, thread_name_prefix="http-agent"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        executor = self.agent_executor if AGENT_REQUEST_PATHS.fullmatch(scope["path"]) else self.executor
        try:
            response = await sync_to_async(self.respond, thread_sensitive=False, executor=executor)(scope, body_file)
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=False, executor=executor)()
        finally:
            body_file.close()

    def respond(self, scope: Scope, body_file: IO[bytes]) -> HttpResponseBase:
        """In a worker thread: what a WSGI handler does for one request, short of sending it."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response = self.get_response(request) if request is not None else error_response
        assert response is not None  # create_request answers an error response when it makes no request
        # The sender of request_finished when the response is closed, as in Django's handlers.
        vars(response)["_handler_class"] = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size  # the server chunks the body itself
        if not response.streaming:
            response.close()  # request_finished; the content is already bytes
        return response
