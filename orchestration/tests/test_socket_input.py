"""Bad frames on the orchestration socket get an ``error`` frame, and the socket stays usable."""

from __future__ import annotations

import pytest

from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "frame: JSON nests more than 64 levels deep."),
        (
            '{"event": "subscribe", "data": ' + '{"a":' * 200 + "1" + "}" * 200 + "}",
            "frame: JSON nests more than 64 levels deep.",
        ),
    ],
)
async def test_a_frame_nested_too_deep_is_an_error_not_a_crash(frame: str, message: str) -> None:
    socket = HubCommunicator("/orchestration")
    assert (await socket.connect())[0]
    await socket.receive_event()  # the global snapshot
    await socket.send_to(text_data=frame)
    assert await socket.receive_event() == {"event": "error", "data": {"message": message}}
    await socket.send_event("subscribe", {"workspaceId": "/srv/still-works"})
    assert (await socket.receive_event())["event"] == "subscribed"
    await socket.disconnect()
