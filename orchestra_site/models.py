"""Models every app shares: API keys and the cross-process event outbox."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import models

KEY_PREFIX = "ohk_"


def hash_api_key(raw_key: str) -> str:
    # The keys are 256-bit random tokens, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)

    def for_raw_key(self, raw_key: str) -> ApiKey | None:
        return self.active().filter(key_hash=hash_api_key(raw_key)).first()


class ApiKey(models.Model):
    """A named key for clients; only its hash is stored, the key itself is shown once."""

    name = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The first characters, to recognise a key.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate_raw_key() -> str:
        return KEY_PREFIX + secrets.token_urlsafe(32)

    def set_raw_key(self, raw_key: str) -> None:
        self.key_hash = hash_api_key(raw_key)
        self.prefix = raw_key[: len(KEY_PREFIX) + 4]


class OutboxEvent(models.Model):
    """An event written in the same transaction as the change it reports.

    With the in-memory channel layer a process can only reach its own clients, so each process
    also relays the rows other processes wrote (``orchestra_site.realtime.relay``). With Redis the layer
    itself crosses processes and no rows are written.
    """

    origin = models.CharField(max_length=32, db_index=True)
    group = models.CharField(max_length=100)
    text = models.TextField(help_text="The JSON frame, exactly as clients receive it.")
    version = models.BigIntegerField(null=True, help_text="Lets consumers drop a late, older frame.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.group} #{self.pk}"


class HubProcessQuerySet(models.QuerySet["HubProcess"]):
    def alive(self, *, dead_after: float) -> HubProcessQuerySet:
        """Processes whose heartbeat is younger than ``dead_after`` seconds, by the database's clock."""
        from django.db.models.functions import Now

        return self.filter(heartbeat_at__gte=Now() - timedelta(seconds=dead_after))

    def with_silence(self) -> HubProcessQuerySet:
        """Each process with ``silent_for``: how long since its last heartbeat, by the database's clock."""
        from django.db.models import F
        from django.db.models.functions import Now

        return self.annotate(silent_for=Now() - F("heartbeat_at"))


class HubProcess(models.Model):
    """A running ``serve`` or ``runagents`` process, kept alive by its heartbeat.

    Other processes read these rows to tell "the whole hub restarted" (no live peer: reset what
    was running) from "one peer died" (reap only what that peer held).
    """

    KIND_SERVE = "serve"
    KIND_RUNNER = "runagents"

    kind = models.CharField(max_length=20)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    objects = HubProcessQuerySet.as_manager()
    silent_for: timedelta  # on rows read through ``HubProcessQuerySet.with_silence()``

    class Meta:
        ordering = ["-started_at"]
        verbose_name_plural = "hub processes"

    def __str__(self) -> str:
        return f"{self.kind} {self.hostname}:{self.pid}"
