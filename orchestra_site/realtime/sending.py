"""Writes to one client that never make the fan-out to the others wait.

The hub's fan-out is one loop over every socket of the process (``EventHub.fan_out``), and each
write is an ``await`` of the server's ASGI send. uvicorn's send waits while that client's transport
is paused: a client that stopped reading has filled its kernel buffer and uvicorn's 64 KiB
high-water mark. Awaited in the loop, one such client would hold up every other client of the
process until it reads again or its connection dies.

``start_send`` runs a write the way ``await`` would, but only up to the first time it has to wait.
Almost always it finishes there (the bytes were handed to the transport) and nothing more is
created: no task, no extra turn of the event loop. When it does have to wait, the rest of it is
handed to a new task, and the caller keeps that client's later writes behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


def start_send(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coroutine`` until it first waits: None if it finished, else the task that finishes it.

    An exception raised before it first waits is raised here, as ``await`` would raise it.
    """
    try:
        awaited = coroutine.send(None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(finish_send(RestOf(coroutine, awaited)))


async def finish_send(rest: RestOf) -> None:
    """The task of a write that had to wait: the rest of it."""
    await rest


class RestOf:
    """The rest of a coroutine that suspended on its first step, awaitable (by a task) from there:
    what ``await`` does with a coroutine, for one that was started by hand with ``send(None)``.
    Whatever it awaited (a future, or a bare yield to the loop) is handed on to the task that
    awaits this, and the task's results or exceptions go back into the coroutine."""

    def __init__(self, coroutine: Coroutine[Any, Any, None], awaited: object) -> None:
        self.coroutine, self.awaited = coroutine, awaited

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, awaited = self.coroutine, self.awaited
        while True:
            try:
                value = yield awaited
            except BaseException as exc:  # the task was cancelled, or the future failed
                try:
                    awaited = coroutine.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    awaited = coroutine.send(value)
                except StopIteration:
                    return
