"""``GET /health``: is the hub up, and do its database and channel layer answer?"""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


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
                "channel_layer": serializers.BooleanField(),
                "channel_layer_backend": serializers.CharField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        database = database_answers()
        layer = channel_layer_answers()
        healthy = database and layer
        return Response(
            {
                "status": "ok" if healthy else "degraded",
                "version": settings.HUB_VERSION,
                "database": database,
                "channel_layer": layer,
                "channel_layer_backend": "redis" if settings.REDIS_URL else "in-memory",
            },
            status=200 if healthy else 503,
        )
