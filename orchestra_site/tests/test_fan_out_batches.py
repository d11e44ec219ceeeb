"""Frames that come faster than the fan-out go to each socket together, in one write, every one
of them in order: nothing is merged or skipped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from orchestra_site.asgi_server import HubServer, server_config
from orchestra_site.realtime import events
from orchestra_site.realtime.consumers import FrameSubscriber
from orchestra_site.realtime.events import EventHub
from orchestra_site.realtime.send_many import SEND_MANY
from orchestra_site.workers import listen

GROUP, OTHER = "orchestration.global", "workspace.a"


class Client(FrameSubscriber):
    """A socket that records each write: the frames it carried."""

    def __init__(self) -> None:
        self.start_subscriber()
        self.writes: list[list[str]] = []

    async def send_texts(self, texts: list[str]) -> None:
        self.writes.append(texts)


@pytest.fixture
async def hub(settings: Any) -> AsyncIterator[EventHub]:
    settings.REDIS_URL = ""  # this process's own fan-out (with Redis, Redis carries each frame here)
    hub = EventHub(asyncio.get_running_loop())
    yield hub
    for task in hub.tasks:
        task.cancel()


async def subscribed(hub: EventHub, *groups: str) -> Client:
    client = Client()
    client.hub = hub
    for group in groups:
        client.groups_joined.add(group)
        await hub.join(group, client)
    return client


async def written(client: Client, count: int) -> None:
    async def enough() -> None:
        while sum(len(write) for write in client.writes) < count:
            await asyncio.sleep(0.005)

    await asyncio.wait_for(enough(), 5)


async def test_frames_submitted_together_reach_each_socket_in_one_write_in_order(hub: EventHub) -> None:
    both, one = await subscribed(hub, GROUP, OTHER), await subscribed(hub, GROUP)
    for version in range(1, 4):  # three changes, each with a frame for each group
        hub.submit(GROUP, [(f"global {version}", version)])
        hub.submit(OTHER, [(f"workspace {version}", version)])
    await written(both, 6)
    await written(one, 3)
    assert both.writes == [["global 1", "workspace 1", "global 2", "workspace 2", "global 3", "workspace 3"]]
    assert one.writes == [["global 1", "global 2", "global 3"]]


async def test_frames_within_a_tick_of_the_last_fan_out_wait_for_it_and_go_together(
    hub: EventHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "FAN_OUT_TICK", 0.3)
    client = await subscribed(hub, GROUP)
    hub.submit(GROUP, [("frame 1", 1)])
    await written(client, 1)  # the first frame after a quiet spell goes out at once
    hub.submit(GROUP, [("frame 2", 2)])
    await asyncio.sleep(0.05)
    hub.submit(GROUP, [("frame 3", 3), ("frame 3 again", 3), ("old frame", 1)])
    await written(client, 3)
    assert client.writes == [["frame 1"], ["frame 2", "frame 3"]]  # versions still filtered per socket


async def frames_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A WebSocket application that sends three frames in one write, then one alone."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    assert SEND_MANY in scope["extensions"]
    await send({"type": SEND_MANY, "texts": [json.dumps({"n": n}) for n in range(1, 4)]})
    await send({"type": "websocket.send", "text": json.dumps({"n": 4})})
    await send({"type": "websocket.close", "code": 1000})


async def test_the_server_writes_several_frames_at_once_each_whole_and_in_order() -> None:
    [sock] = listen("127.0.0.1", 0, 1)
    port = sock.getsockname()[1]
    started = asyncio.Event()
    server = HubServer(server_config(frames_app), ready=started.set)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(started.wait(), 10)
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            got = [json.loads(message)["n"] async for message in ws]
        assert got == [1, 2, 3, 4]
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 15)
