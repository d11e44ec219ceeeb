"""The per-process hub that writes group frames to this process's sockets."""

from __future__ import annotations

import asyncio

from orchestra_site.realtime.events import EventHub


class LayerThatFailsWhenCancelled:
    """Like redis-py under channels-redis: a cancelled read surfaces as a connection error (once)."""

    def __init__(self) -> None:
        self.reads = 0

    async def new_channel(self) -> str:
        return "specific.hub!1"

    async def receive(self, channel: str) -> dict[str, object]:
        self.reads += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self.reads == 1:
                raise ConnectionError("Connection closed by server.") from None
            raise
        raise AssertionError("unreachable")


async def test_the_receive_loop_stops_when_cancelled_even_if_the_layer_turns_it_into_an_error() -> None:
    hub = EventHub.__new__(EventHub)
    hub.layer, hub.channel, hub.ready = LayerThatFailsWhenCancelled(), None, asyncio.Event()
    receiving = asyncio.create_task(hub.receive_loop())
    await hub.ready.wait()
    await asyncio.sleep(0)

    receiving.cancel()

    await asyncio.wait({receiving}, timeout=2)
    assert receiving.cancelled()
    assert hub.layer.reads == 1


class LayerThatFailsOneSend:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.failures = 1

    async def group_send(self, group: str, message: dict[str, object]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Connection reset by peer.")
        self.sent.append(group)


async def test_one_failed_send_does_not_leave_the_process_talking_only_to_itself(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from orchestra_site.realtime import events

    monkeypatch.setattr(events, "layer_state", events.LayerState())
    monkeypatch.setattr(events.LayerState, "RETRY_SECONDS", 0.0)
    hub = EventHub.__new__(EventHub)
    hub.layer, hub.members, hub.outgoing = LayerThatFailsOneSend(), {}, asyncio.Queue()
    sending = asyncio.create_task(hub.send_loop())
    for group in ("first", "second"):
        hub.outgoing.put_nowait((group, [('{"event":"x"}', None)]))
    while hub.outgoing.qsize():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    sending.cancel()
    assert hub.layer.sent == ["second"]
    assert not events.layer_state.down
