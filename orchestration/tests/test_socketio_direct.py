"""``socketio_direct`` against the real python-engineio, through its ASGI application.

The server here is a stand-in ASGI server whose ``websocket.send`` may give the event loop away
before it writes (as a server applying back-pressure does), so a direct write can still be in
progress when later packets are queued. These tests fail if python-engineio stops using the hooks
``socketio_direct`` relies on (``create_queue``, the ``websocket`` class, ``get``/``get_nowait``).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from engineio import packet as engineio_packet  # type: ignore[import-untyped]
from engineio.async_drivers.asgi import ASGIApp  # type: ignore[import-untyped]

from orchestra_site.realtime.sending import finish_send
from orchestration.socketio_direct import DirectEngineIOServer, WriteThroughQueue


class StandInServer:
    """One WebSocket of an ASGI server: what the client sends, what the application writes, and
    which task wrote each message."""

    def __init__(self, server: DirectEngineIOServer, *, yields: bool) -> None:
        self.server = server
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.written: list[str] = []
        self.writers: list[asyncio.Task[Any] | None] = []
        self.yields = yields
        self.gate: asyncio.Event | None = None  # while set to an unset event, sends wait (a stalled client)
        self.randomness = random.Random(11)
        self.incoming.put_nowait({"type": "websocket.connect"})
        scope = {
            "type": "websocket",
            "path": "/engine.io/",
            "query_string": b"EIO=4&transport=websocket",
            "headers": [(b"host", b"testserver"), (b"connection", b"Upgrade"), (b"upgrade", b"websocket")],
            "client": ("127.0.0.1", 50000),
        }
        self.app = asyncio.ensure_future(ASGIApp(server)(scope, self.incoming.get, self.send))

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] != "websocket.send":
            return
        if self.gate is not None:
            await self.gate.wait()
        for _ in range(self.randomness.randrange(8) if self.yields else 0):
            await asyncio.sleep(0)  # the bytes leave only after the loop has run other tasks
        self.written.append(message["text"])
        self.writers.append(asyncio.current_task())

    async def opened(self) -> str:
        await self.until_written(1)
        assert self.written[0].startswith("0{"), self.written
        for _ in range(10):  # the writer task that wrote it goes back to waiting within a few turns
            await asyncio.sleep(0)
        return str(json.loads(self.written[0][1:])["sid"])

    async def until_written(self, count: int) -> None:
        for _ in range(2000):
            if len(self.written) >= count:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"{len(self.written)} of {count} messages written: {self.written}")

    async def close(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect"})
        await asyncio.wait_for(self.app, 5)


async def test_a_message_to_an_idle_websocket_is_written_by_its_sender_and_a_ping_by_the_writer() -> None:
    server = DirectEngineIOServer(async_mode="asgi")
    client = StandInServer(server, yields=False)
    sid = await client.opened()
    queue = server.sockets[sid].queue
    assert isinstance(queue, WriteThroughQueue) and queue.websocket is not None

    await server.send(sid, "hello")
    assert client.written[-1] == "4hello"
    assert client.writers[-1] is asyncio.current_task()  # no writer task woke for it

    await server.send_packet(sid, engineio_packet.Packet(engineio_packet.PING))
    await client.until_written(3)
    assert client.written[-1] == "2"
    assert client.writers[-1] is not asyncio.current_task()  # pings keep the library's writer alive

    await client.close()
    assert queue.websocket is None


async def test_concurrent_senders_messages_and_pings_are_written_in_the_order_they_were_sent() -> None:
    server = DirectEngineIOServer(async_mode="asgi")
    client = StandInServer(server, yields=True)
    sid = await client.opened()
    sent: list[str] = []
    pauses = random.Random(5)

    async def sender(name: str) -> None:
        for i in range(60):
            text = f"{name}{i}"
            sent.append("4" + text)  # nothing gives the loop away between here and the queue
            await server.send(sid, text)
            if i % 7 == 0:
                sent.append("2")
                await server.send_packet(sid, engineio_packet.Packet(engineio_packet.PING))
            if i % 3 == 0:  # now and then the writer catches up, and messages go direct again
                await asyncio.sleep(pauses.random() * 0.002)

    await asyncio.gather(*(sender(name) for name in "abcd"))
    await client.until_written(1 + len(sent))
    assert client.written[1:] == sent
    # Both paths were taken: written by its sender (or the task finishing a direct write that had to
    # wait), and by the library's writer task.
    direct = sum(writer.get_coro().__name__ in ("sender", finish_send.__name__) for writer in client.writers if writer)
    assert 0 < direct < len(sent)
    await client.close()


async def test_a_client_whose_sends_wait_holds_up_no_other_client_and_gets_its_messages_in_order() -> None:
    server = DirectEngineIOServer(async_mode="asgi")
    stalled, other = StandInServer(server, yields=False), StandInServer(server, yields=False)
    stalled_sid, other_sid = await stalled.opened(), await other.opened()
    stalled.gate = asyncio.Event()
    expected = [f"4m{i}" for i in range(20)]
    for i in range(20):  # as the fan-out loop does: one client after the other
        await asyncio.wait_for(server.send(stalled_sid, f"m{i}"), 1)
        await server.send(other_sid, f"m{i}")
    assert other.written[1:] == expected
    assert len(stalled.written) == 1  # only the open packet, written before the client stalled

    stalled.gate.set()
    await stalled.until_written(1 + len(expected))
    assert stalled.written[1:] == expected
    await stalled.close()
    await other.close()
