"""WebSocket test clients of the whole hub (auth middleware included), shared by every app's tests."""

from __future__ import annotations

import json
from typing import Any

from channels.testing import WebsocketCommunicator

from orchestra_site.asgi import application


class HubCommunicator(WebsocketCommunicator):
    """A WebSocket test client of the whole hub (auth middleware included), on loopback by default."""

    def __init__(
        self,
        path: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        client: tuple[str, int] = ("127.0.0.1", 50000),
    ) -> None:
        headers = list(headers or [])
        if not any(name.lower() == b"host" for name, _ in headers):
            headers.append((b"host", b"127.0.0.1:8000"))
        super().__init__(application, path, headers=headers)
        self.scope["client"] = client
        self.scope["server"] = ("127.0.0.1", 8000)  # the hub's port, which loopback trust checks in Host

    async def receive_event(self, timeout: float = 2) -> dict[str, Any]:
        return json.loads(await self.receive_from(timeout))

    async def send_event(self, event: str, data: Any) -> None:
        await self.send_to(text_data=json.dumps({"event": event, "data": data}))
