"""``GET /health``: is the hub up, can it write, is its heartbeat fresh, does its channel layer answer?"""

from __future__ import annotations

import asyncio
import os

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orchestra_site.heartbeat import HUB_PROCESS_ENV, fence_after
from orchestra_site.models import HubProcess


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def hub_process_check(process_id: int) -> tuple[bool, float | None, str | None]:
    """Can this hub write (a real committed write of its own row: a full disk or a read-only
    database refuses it), and how old is its heartbeat? ``(writable, age_seconds, reason)``."""
    try:
        with transaction.atomic():
            HubProcess.objects.filter(pk=process_id).update(heartbeat_at=F("heartbeat_at"))
        row = HubProcess.objects.filter(pk=process_id).with_silence().first()
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        return False, None, f"the database refused a write: {type(error).__name__}: {first_line}"
    if row is None:
        return True, None, None
    age = row.silent_for.total_seconds()  # by the database's clock, which wrote the heartbeat
    if age > fence_after():
        return (
            True,
            age,
            (
                f"this hub's heartbeat is {age:.0f} s old: it stops its agents after {fence_after():.0f} s "
                f"and peers reap them after {settings.RUNNER_DEAD_AFTER:.0f} s (ORCHESTRA_RUNNER_DEAD_AFTER)"
            ),
        )
    return True, age, None


async def _layer_round_trip() -> bool:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    return message.get("type") == "health.ping"


def channel_layer_answers() -> bool:
    try:
        return async_to_sync(_layer_round_trip)()
    except Exception:
        return False


class HealthView(APIView):
    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.ChoiceField(choices=["ok", "degraded"]),
                "version": serializers.CharField(),
                "database": serializers.BooleanField(),
                "database_writable": serializers.BooleanField(allow_null=True),
                "heartbeat_age_seconds": serializers.FloatField(allow_null=True),
                "channel_layer": serializers.BooleanField(),
                "channel_layer_backend": serializers.CharField(),
                "reasons": serializers.ListField(child=serializers.CharField()),
            },
        )
    )
    def get(self, request: Request) -> Response:
        database = database_answers()
        layer = channel_layer_answers()
        reasons = [] if database else ["the database does not answer"]
        if not layer:
            reasons.append("the channel layer does not answer")
        writable, age = None, None
        process_id = os.environ.get(HUB_PROCESS_ENV)
        if database and process_id:
            writable, age, reason = hub_process_check(int(process_id))
            if reason:
                reasons.append(reason)
        return Response(
            {
                "status": "degraded" if reasons else "ok",
                "version": settings.HUB_VERSION,
                "database": database,
                "database_writable": writable,
                "heartbeat_age_seconds": None if age is None else round(age, 1),
                "channel_layer": layer,
                "channel_layer_backend": "redis" if settings.REDIS_URL else "in-memory",
                "reasons": reasons,
            },
            status=503 if reasons else 200,
        )
