"""Services for the shared models."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from orchestra_site.models import ApiKey, HubProcess


@transaction.atomic
def api_key_create(*, name: str) -> tuple[ApiKey, str]:
    """Create a key named ``name``; return it with the raw key, which is never stored."""
    raw_key = ApiKey.generate_raw_key()
    api_key = ApiKey(name=name)
    api_key.set_raw_key(raw_key)
    api_key.save()
    return api_key, raw_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    api_key = ApiKey.objects.for_raw_key(raw_key)
    if api_key is not None:
        # At most one write a minute per key, so authentication stays off the write path.
        now = timezone.now()
        stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(minutes=1))
        ApiKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)
    return api_key


def hub_process_register(*, kind: str) -> HubProcess:
    return HubProcess.objects.create(
        kind=kind, hostname=socket.gethostname(), pid=os.getpid(), heartbeat_at=timezone.now()
    )


def hub_process_heartbeat(*, process_id: int) -> bool:
    """Renew the process's heartbeat; False when its row is gone or marked stopped.

    The time is the database's (``Now()``), as is every comparison with it (``alive``,
    ``recovery.dead_runners``): runners on machines whose clocks disagree never reap each other
    for it."""
    beating = HubProcess.objects.filter(pk=process_id, stopped_at__isnull=True)
    return bool(beating.update(heartbeat_at=Now()))


def hub_process_stop(*, process_id: int) -> None:
    now = timezone.now()
    # A stopped process's heartbeat is moved into the past so peers see it gone at once.
    HubProcess.objects.filter(pk=process_id).update(stopped_at=now, heartbeat_at=now - timedelta(days=1))


def hub_peers_alive(*, process_id: int) -> bool:
    """Is any other hub process alive (heartbeat within ``ORCHESTRA_RUNNER_DEAD_AFTER``)?"""
    alive = HubProcess.objects.alive(dead_after=settings.RUNNER_DEAD_AFTER).filter(stopped_at__isnull=True)
    return alive.exclude(pk=process_id).exists()
