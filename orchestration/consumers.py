"""The ``/orchestration`` raw WebSocket: ``{"event", "data"}`` JSON text frames both ways."""

from __future__ import annotations

from typing import Any

from orchestra_site.api.parsers import JsonRefused, loads_bounded
from orchestra_site.realtime.consumers import HubConsumer
from orchestration.session import FrameError, OrchestrationSession


class OrchestrationConsumer(HubConsumer):
    session: OrchestrationSession

    async def connect(self) -> None:
        await self.accept()
        self.session = OrchestrationSession(self)
        await self.session.open()

    async def resync(self) -> None:
        await self.session.resync()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            name, data = parse_frame(text_data)
        except FrameError as exc:
            await self.session.send_error(str(exc))
            return
        await self.session.handle(name, data)


def parse_frame(text_data: str | None) -> tuple[object, object]:
    if text_data is None:
        raise FrameError("frames must be JSON text, not binary.")
    try:
        frame: Any = loads_bounded(text_data)
    except JsonRefused as exc:
        raise FrameError(f"frame: {exc}") from None
    except ValueError:
        raise FrameError("frame is not valid JSON.") from None
    if not isinstance(frame, dict):
        raise FrameError('frame must be an object {"event": NAME, "data": {...}}.')
    return frame.get("event"), frame.get("data")
