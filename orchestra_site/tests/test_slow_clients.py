"""One client that stops reading holds up no other client of the process.

uvicorn's ASGI send waits while a client's transport is paused (it stopped reading and its buffers
are full). The hub's fan-out is one loop over every socket of the process, so it must never await
one client's write: the frames of a client that cannot take them now wait with that client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestra_site.realtime.consumers import FrameSubscriber
from orchestra_site.realtime.events import EventHub, Frame

# The hub joins its groups on the channel layer: Redis in the PostgreSQL + Redis pass.
pytestmark = pytest.mark.database
GROUP = "orchestration.global"


class Client(FrameSubscriber):
    """A socket whose server-side send waits while ``reading`` is clear, as a paused transport does."""

    def __init__(self) -> None:
        self.start_subscriber()
        self.got: list[str] = []
        self.reading = asyncio.Event()
        self.reading.set()

    async def send_text(self, text: str) -> None:
        await self.reading.wait()
        self.got.append(text)


@pytest.fixture
async def hub() -> AsyncIterator[EventHub]:
    hub = EventHub(asyncio.get_running_loop())
    yield hub
    for task in hub.tasks:
        task.cancel()


async def subscribe(hub: EventHub, *clients: Client) -> None:
    for client in clients:
        client.hub = hub
        client.groups_joined.add(GROUP)
        await hub.join(GROUP, client)


def frames(first: int, last: int) -> list[list[Frame]]:
    return [[(f"frame {version}", version)] for version in range(first, last + 1)]


async def test_a_client_that_stops_reading_holds_up_no_other_client_and_then_gets_every_frame_in_order(
    hub: EventHub,
) -> None:
    reader, stalled = Client(), Client()
    await subscribe(hub, reader, stalled)
    stalled.reading.clear()

    for batch in frames(1, 50):
        await asyncio.wait_for(hub.fan_out(GROUP, batch), timeout=1)

    assert reader.got == [f"frame {v}" for v in range(1, 51)]
    assert stalled.got == []
    stalled.reading.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert stalled.got == [f"frame {v}" for v in range(1, 51)]

    # Once it reads again, new frames go straight to it, after what it was owed.
    await hub.fan_out(GROUP, [("frame 51", 51)])
    assert stalled.got[-1] == "frame 51" and reader.got[-1] == "frame 51"
    assert stalled.holds == 0


async def test_a_snapshot_and_a_waiting_write_together_never_let_a_frame_overtake(hub: EventHub) -> None:
    client = Client()
    await subscribe(hub, client)
    client.reading.clear()
    await hub.fan_out(GROUP, [("frame 1", 1)])  # waits in its own task
    async with client.holding_frames():  # a snapshot starts meanwhile
        await hub.fan_out(GROUP, [("frame 2", 2)])
        client.reading.set()
        for _ in range(5):
            await asyncio.sleep(0)
        assert client.got == ["frame 1"]  # frame 2 waits for the snapshot to end
    assert client.got == ["frame 1", "frame 2"]
    assert client.holds == 0


async def test_a_socket_that_fails_is_dropped_and_the_others_still_get_the_frame(hub: EventHub) -> None:
    class Broken(Client):
        async def send_text(self, text: str) -> None:
            raise ConnectionResetError("reset by peer")

    broken, reader = Broken(), Client()
    await subscribe(hub, broken, reader)

    await hub.fan_out(GROUP, [("frame 1", 1)])

    assert reader.got == ["frame 1"]
    assert broken not in hub.members.get(GROUP, set())
