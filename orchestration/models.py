"""Workspaces and the running/desired totals over all of them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Workspace(models.Model):
    """One checkout: how many agents the user wants there, and how many run.

    ``running`` is what clients see: the hub's own agents (``hub_running``, moved only by the
    runner's slots) plus what an orchestrator outside the hub reported (``PUT .../running``).
    Keeping the hub's part apart means a report can never make the runner exceed ``desired``.

    ``version`` is taken from the hub-wide sequence in ``Totals.version`` on every change, so it
    only grows, even across a prune and re-creation of the same path.
    """

    path = models.CharField(max_length=1024, unique=True)
    desired = models.PositiveIntegerField(default=0)
    running = models.PositiveIntegerField(default=0)
    hub_running = models.PositiveIntegerField(default=0, help_text="The hub's own agents, part of running.")
    version = models.BigIntegerField(default=0)
    pinned = models.BooleanField(default=False, help_text="Kept by prune_workspaces: the workspace of a project.")
    created_at = models.DateTimeField(default=timezone.now)
    touched_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hub_running__lte=models.F("running")), name="workspace_hub_running_within_running"
            )
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def reported_running(self) -> int:
        """The agents an orchestrator outside the hub reported."""
        return self.running - self.hub_running


class Totals(models.Model):
    """The single row holding Σ running, Σ desired and the event sequence, kept in O(1) per change."""

    SINGLETON_ID = 1

    running = models.BigIntegerField(default=0)
    desired = models.BigIntegerField(default=0)
    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "totals"

    def __str__(self) -> str:
        return f"running {self.running}, desired {self.desired}"
