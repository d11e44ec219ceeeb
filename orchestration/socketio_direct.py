"""Engine.IO messages written straight to the client's WebSocket when nothing is waiting before them.

In python-engineio (4.15.1) ``AsyncSocket.send`` puts every packet on the connection's queue, and
a writer task per WebSocket (in ``AsyncSocket._websocket_handler``) takes it off with
``AsyncSocket.poll`` and awaits the ASGI send. ``poll`` waits in ``asyncio.wait_for(queue.get(),
...)``: a task, a timer and half a dozen turns of the event loop per packet, and the writer wakes
once per client per event, after the fan-out loop has finished. For an event fanned out to 1000
Socket.IO clients, py-spy put this wake-up path (``poll``, ``wait_for``, task steps) beside the
ASGI send itself in serve's profile, and serve spent 3 to 4 times the CPU of the same fan-out to
raw WebSockets.

Here the socket's queue (``AsyncServer.create_queue`` builds it, the documented way to choose the
queue) writes a MESSAGE packet to the WebSocket itself, at once, when that is safe, and the
writer task stays asleep:

- only once the connection is a WebSocket (``socket.upgraded``, not ``upgrading``), bound by
  ``DirectWebSocket`` (the ASGI driver's WebSocket, given to the server as its ``websocket``);
- only when nothing written before can still be on its way: the queue is empty, the writer holds
  no packet (it took none since it last called ``get()``, which it does only once everything it
  took before has been sent) and no earlier direct write is still in its ASGI send. Otherwise the
  packet goes on the queue as before, and the writer, before it sends a packet, waits for a direct
  write still in progress. So each client gets its packets in the order they were sent: the
  Engine.IO open packet, the Socket.IO connect answer, the snapshot, then events;
- without ever making the sender wait for one client: the sender is the fan-out loop over every
  client of the process. If the ASGI server's send has to wait (a slow client's back-pressure, as
  uvicorn applies it), the rest of that write runs in a task and the client's later packets queue
  behind it, as they did behind the library's writer;
- never for other packets: pings, the CLOSE packet and the upgrade's NOOP go through the queue,
  because the writer closes a WebSocket through which nothing came for ``ping_interval +
  ping_timeout`` (45 s): the 25 s pings must keep reaching it.

The tests in ``orchestration/tests/test_socketio_direct.py`` fail if the library stops building
the queue with ``create_queue``, stops passing the socket's ``_websocket_handler`` to the
``websocket`` class, or stops reading the queue with ``get()`` then ``get_nowait()``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from engineio import packet as engineio_packet  # type: ignore[import-untyped]
from engineio.async_drivers import asgi as engineio_asgi  # type: ignore[import-untyped]

from orchestra_site.realtime.sending import start_send
from orchestration.socketio_stop import StoppableEngineIOServer


class DirectWebSocket(engineio_asgi.WebSocket):
    """The ASGI driver's WebSocket, which lends itself to its socket's queue while it is open."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        # ``AsyncSocket._upgrade_websocket`` builds this with the socket's own ``_websocket_handler``.
        socket = getattr(self.handler, "__self__", None)
        queue = getattr(socket, "queue", None)
        if not isinstance(queue, WriteThroughQueue):
            return await super().__call__(environ)
        self.queue = queue
        queue.bind(socket, self)
        try:
            return await super().__call__(environ)
        finally:
            queue.unbind(self)

    async def close(self) -> None:
        """Nothing is written directly once the library closes the WebSocket (its writer ended)."""
        queue = getattr(self, "queue", None)
        if queue is not None:
            queue.unbind(self)
        await super().close()

    async def going_away(self, *, code: int, reason: str) -> None:
        """Close with ``code`` (the library's own close sends none: 1000, a normal closure), for
        the hub's stop (``socketio_stop``). Nothing is written directly after it."""
        queue = getattr(self, "queue", None)
        if queue is not None:
            queue.unbind(self)
        try:
            await self.asgi_send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:
            pass  # the connection is already gone

    def abort(self) -> None:
        """Drop the connection now, unflushed: for a client that reads nothing, whose close would
        wait for ever. ASGI has no such message; ``asgi_send`` is the server's protocol's
        ``send`` (uvicorn's, which nothing wraps for a WebSocket), and its transport is aborted."""
        transport = getattr(getattr(self.asgi_send, "__self__", None), "transport", None)
        if transport is not None:
            transport.abort()


class WriteThroughQueue(asyncio.Queue[Any]):
    """An Engine.IO socket's outgoing queue that sends a message itself when the writer is idle."""

    # Class-level defaults: an idle socket pays for no extra attributes (10 000 of them per process).
    socket: Any = None
    websocket: DirectWebSocket | None = None
    holding = False  # the writer took packets and has not asked for more since
    writing = False  # a direct write is inside its ASGI send
    write_done: asyncio.Future[None] | None = None
    finishing: asyncio.Task[None] | None = None  # a direct write the server made wait

    def bind(self, socket: Any, websocket: DirectWebSocket) -> None:
        self.socket, self.websocket = socket, websocket

    def unbind(self, websocket: DirectWebSocket) -> None:
        if self.websocket is websocket:
            self.websocket = None

    def writes_through(self, item: object) -> bool:
        websocket, socket = self.websocket, self.socket
        return (
            websocket is not None
            and not self.holding
            and not self.writing
            and not self._queue  # type: ignore[attr-defined]
            and isinstance(item, engineio_packet.Packet)
            and item.packet_type == engineio_packet.MESSAGE
            and socket.upgraded
            and not socket.upgrading
            and not socket.closed
        )

    async def put(self, item: Any) -> None:
        if self.writes_through(item):
            self.write_through(item)
        else:
            await super().put(item)

    def write_through(self, pkt: engineio_packet.Packet) -> None:
        """Start the ASGI send here; if the server makes it wait (a slow client's back-pressure),
        finish it in a task. The caller is the fan-out loop over every client of this process: it
        must not wait for one client, as it never did when the library's writer tasks sent."""
        self.writing = True
        try:
            self.finishing = start_send(self.send_or_close(pkt.encode()))
        except BaseException:
            self.written()
            raise
        if self.finishing is None:  # the usual case: the server wrote (or buffered) it at once
            self.written()
        else:
            self.finishing.add_done_callback(self.finished)

    async def send_or_close(self, text: str) -> None:
        websocket = self.websocket
        assert websocket is not None
        try:
            await websocket.send(text)
        except Exception:
            # What the library's writer does when a send fails: stop writing to this WebSocket
            # and close it. The writer itself ends when the reader sees the connection go.
            self.websocket = None
            await websocket.close()

    def finished(self, task: asyncio.Task[None]) -> None:
        self.finishing = None
        self.written()

    def written(self) -> None:
        self.writing = False
        done, self.write_done = self.write_done, None
        if done is not None and not done.done():
            done.set_result(None)

    async def get(self) -> Any:
        # The writer asks for more only once it has sent everything it took before.
        self.holding = False
        item = await super().get()
        while self.writing:  # a direct write, sent before this packet was queued, is still going
            if self.write_done is None:
                self.write_done = asyncio.get_running_loop().create_future()
            await asyncio.shield(self.write_done)
        return item

    def get_nowait(self) -> Any:
        item = super().get_nowait()
        self.holding = True
        return item


class DirectEngineIOServer(StoppableEngineIOServer):
    """Engine.IO's ASGI server with ``WriteThroughQueue`` queues and ``DirectWebSocket`` sockets,
    and the stop of ``socketio_stop``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # ``_async`` is the async driver module's own dict, shared by every server: copy it.
        self._async: dict[str, Any] = {**self._async, "websocket": DirectWebSocket}

    def create_queue(self, *args: Any, **kwargs: Any) -> asyncio.Queue[Any]:
        return WriteThroughQueue(*args, **kwargs)
