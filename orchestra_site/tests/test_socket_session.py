"""A WebSocket's handshake still reads the Django session (a staff console), without Channels'
wrapper around each frame sent."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

from orchestration import services
from tests.support.communicators import HubCommunicator

pytestmark = pytest.mark.django_db(transaction=True)
ELSEWHERE = ("192.0.2.7", 50000)  # not loopback: only a key or a staff session lets it in


def staff_session() -> str:
    user = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)


async def test_a_staff_session_opens_the_socket_and_frames_flow_without_touching_it() -> None:
    key = await database_sync_to_async(staff_session)()
    saved = await database_sync_to_async(lambda: Session.objects.get(pk=key).session_data)()
    socket = HubCommunicator("/orchestration", headers=[(b"cookie", f"sessionid={key}".encode())], client=ELSEWHERE)
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_event())["event"] == "orchestration.global"
    await database_sync_to_async(services.workspace_set_desired)(path="/session/repo", desired=2)
    assert (await socket.receive_event())["data"]["desired"] == 2
    await socket.disconnect()
    assert await database_sync_to_async(lambda: Session.objects.get(pk=key).session_data)() == saved


async def test_without_a_session_or_key_the_socket_is_refused() -> None:
    socket = HubCommunicator("/orchestration", client=ELSEWHERE)
    connected, _ = await socket.connect()
    assert not connected
