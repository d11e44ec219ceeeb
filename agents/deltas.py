"""Token-by-token output: ``delta`` frames on the terminal socket, sent live and never stored.

A delta is a piece of a message as the model writes it. It goes to the execution's group at once
(batched per read of the agent's output) with no ``seq``: the stored log keeps only the whole
message that follows it, so a replay stays compact and a late socket shows the same final text.
Before a delta leaves, the frames the step's ``LogWriter`` still buffers are written, so a socket
sees the frames before it first, then the deltas in order, then the whole message. A delta names
the ``seq`` of its step's last stored frame (``after``): a socket that, replaying the stored log,
already sent a later frame of that step (its whole message) drops the delta as stale.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from agents.logs import LogWriter, storable
from orchestra_site.outages import TRANSIENT, forget_broken_connection
from orchestra_site.realtime.events import broadcast_many, execution_group

logger = logging.getLogger(__name__)


def delta_frame(*, execution_id: int, step_id: int | None, step_run_id: int, text: str) -> dict[str, Any]:
    """A delta; ``after`` is filled in by ``DeltaSender.add``."""
    return {
        "type": "delta",
        "execution_id": execution_id,
        "step_id": step_id,
        "step_run_id": step_run_id,
        "data": storable(text),
        "after": 0,
    }


class DeltaSender:
    """The deltas of one read of an agent's output, sent together, after what the writer holds."""

    def __init__(self, writer: LogWriter) -> None:
        self.writer = writer
        self.pending: list[dict[str, Any]] = []

    def add(self, frame: dict[str, Any]) -> None:
        if not self.pending:
            # What came before the message reaches the socket before its deltas, and ``last_seq``
            # counts it: this writes what the writer holds and waits for a shared flush in flight
            # (``agents.log_flusher`` holds ``write_lock`` from taking frames to their commit).
            self.writer.flush()
        self.pending.append({**frame, "after": self.writer.last_seq})

    def send(self) -> None:
        """Broadcast the pending deltas (one message; one outbox row each without Redis). A database
        that refuses the outbox rows loses only these deltas: the whole message is still stored."""
        frames, self.pending = self.pending, []
        if not frames:
            return
        try:
            with transaction.atomic():
                broadcast_many(execution_group(self.writer.execution_id), [(frame, None) for frame in frames])
        except TRANSIENT as error:
            forget_broken_connection()
            logger.info("deltas of execution %s not sent: %s", self.writer.execution_id, error)
