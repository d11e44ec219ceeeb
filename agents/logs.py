"""An execution's output: stored as numbered log entries and sent live to its terminal sockets.

Every terminal frame (``step_start``, ``output``, ``step_complete``, ``status``) is a log
entry with a per-execution ``seq``. Entries are written in small batches (every running step's
together: ``agents.log_flusher``) and each frame is broadcast after its batch commits, so a
socket that replays the stored entries and then takes live frames with a larger ``seq`` sees
everything once, in order (``agents.consumers``).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from django.db import transaction
from django.db.models import Max

from agents import log_flusher
from agents.adapters import AgentEvent
from agents.models import Execution, ExecutionLogEntry
from orchestra_site.outages import TRANSIENT, Outage, forget_broken_connection
from orchestra_site.realtime.events import broadcast_many, execution_group

FLUSH_SIZE = 200
OUTPUT_PREVIEW = 1000
# What one step keeps in memory while the database cannot take its frames: beyond it the oldest
# output goes (the step's first and last frames, and its result, are kept).
MAX_UNWRITTEN_BYTES = 8 * 1024 * 1024


def append_entries(*, execution_id: int, step_run_id: int | None, frames: list[dict[str, Any]]) -> list[int]:
    """Store ``frames`` with the next sequence numbers and send them after commit."""
    if not frames:
        return []
    with transaction.atomic():
        [(_, batch)] = store_entries([(execution_id, step_run_id, frames)])
        broadcast_many(execution_group(execution_id), batch)
    return [seq for _, seq in batch if seq is not None]


Batch = list[tuple[dict[str, Any], int | None]]  # frames with their ``seq``, as ``broadcast_many`` takes them


def store_entries(writes: list[tuple[int, int | None, list[dict[str, Any]]]]) -> list[tuple[int, Batch]]:
    """Insert each ``(execution_id, step_run_id, frames)`` after its execution's last entry, in
    this order; call inside a transaction. Returns each execution's frames with their ``seq``, for
    the caller to send (one message for all: ``agents.log_flusher``). However many executions,
    it is three statements and one insert: the shared flusher writes about twenty at a time."""
    ids = sorted({execution_id for execution_id, _, _ in writes})
    # Locking the execution rows (in id order) serialises writers of one execution, on any runner.
    list(Execution.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    last: dict[int, int] = dict(
        ExecutionLogEntry.objects.filter(execution_id__in=ids)
        .order_by()
        .values("execution_id")
        .annotate(last=Max("seq"))
        .values_list("execution_id", "last")
    )
    entries, batches = [], []
    for execution_id, step_run_id, frames in writes:
        first = last.get(execution_id, 0) + 1
        last[execution_id] = first + len(frames) - 1
        seqs = range(first, first + len(frames))
        entries += [
            ExecutionLogEntry(
                execution_id=execution_id, step_run_id=step_run_id, seq=seq, kind=frame["type"], data=frame
            )
            for seq, frame in zip(seqs, frames, strict=True)
        ]
        batch: Batch = [({**frame, "seq": seq}, seq) for seq, frame in zip(seqs, frames, strict=True)]
        batches.append((execution_id, batch))
    ExecutionLogEntry.objects.bulk_create(entries)
    return batches


class LogWriter:
    """Buffers one step's frames. The process's shared flusher (``agents.log_flusher``) writes
    them every ``log_flusher.FLUSH_EVERY`` s together with every other step's; the step writes them itself
    at ``FLUSH_SIZE`` frames (so a flood waits for its own writes) and when it calls ``flush``.

    ``write_lock`` is held from taking frames to their commit, by whichever thread writes them:
    one step's frames are stored in the order it added them, whoever writes them.
    """

    def __init__(self, *, execution_id: int, step_run_id: int | None) -> None:
        self.execution_id = execution_id
        self.step_run_id = step_run_id
        self.pending: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.outage = Outage(f"writing the log of execution {execution_id}")
        self.last_seq = 0  # the seq of the last frame this writer stored (a delta comes after it)
        self.refused: Exception | None = None  # what the shared flusher could not write, raised in the step

    def add(self, frame: dict[str, Any]) -> None:
        self.raise_refused()
        with self.lock:
            self.pending.append(frame)
            first, full = len(self.pending) == 1, len(self.pending) >= FLUSH_SIZE
        if full:
            self.flush()
        elif first:
            log_flusher.schedule(self)

    def flush(self) -> bool:
        """Write what is buffered now; False when the database refused it (the frames are kept, up
        to ``MAX_UNWRITTEN_BYTES``, and go with the next flush: a database that blinks loses no output)."""
        self.raise_refused()
        with self.write_lock:
            frames = self.take()
            try:
                seqs = append_entries(execution_id=self.execution_id, step_run_id=self.step_run_id, frames=frames)
            except TRANSIENT as error:
                forget_broken_connection()
                self.keep(frames, error)
                return False
            self.stored(seqs)
        self.outage.recovered()
        return True

    def stored(self, seqs: list[int]) -> None:
        """``seqs`` of this writer's frames are committed (hold ``write_lock``): a delta comes after them."""
        if seqs:
            self.last_seq = seqs[-1]

    def take(self) -> list[dict[str, Any]]:
        """The buffered frames, now this caller's to write (hold ``write_lock``)."""
        with self.lock:
            frames, self.pending = self.pending, []
        return frames

    def keep(self, frames: list[dict[str, Any]], error: Exception) -> None:
        """``frames`` could not be written: back in front of the buffer (hold ``write_lock``)."""
        self.outage.failed(error)
        with self.lock:
            self.pending = unwritten_kept(frames + self.pending)
        log_flusher.schedule(self)

    def raise_refused(self) -> None:
        refused, self.refused = self.refused, None
        if refused is not None:
            raise refused


def unwritten_kept(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``frames`` within ``MAX_UNWRITTEN_BYTES``: output frames are dropped oldest first."""
    sizes = [len(frame.get("data") or "") + 200 for frame in frames]
    excess = sum(sizes) - MAX_UNWRITTEN_BYTES
    if excess <= 0:
        return frames
    kept = []
    for frame, size in zip(frames, sizes, strict=True):
        if excess > 0 and frame.get("type") == "output":
            excess -= size
            continue
        kept.append(frame)
    return kept


def render_event(event: AgentEvent) -> str:
    """The text a terminal pane shows for a normalized event."""
    kind, text = event["kind"], event.get("text", "")
    if kind == "text":
        return text + "\n"
    if kind == "tool_use":
        arguments = json.dumps(event.get("input"), ensure_ascii=False, default=str)
        return f"→ {event.get('tool', 'tool')} {arguments[:300]}\n"
    if kind == "tool_result":
        return f"← {text[:500]}\n"
    if kind == "error":
        return f"[error] {text}\n"
    if kind == "system" and event.get("subtype") == "init":
        return f"[session {event.get('session_id') or ''} {event.get('model') or ''}]\n"
    return ""


def output_frame(
    *, execution_id: int, step_id: int | None, step_run_id: int, data: str, event: dict[str, Any]
) -> dict[str, Any]:
    """An ``output`` frame: ``data`` is what the terminal shows, ``event`` the normalized fields
    (``stored_event``), so the agent's line is stored and sent once, not three times over."""
    data = storable(data)
    return {
        "type": "output",
        "execution_id": execution_id,
        "step_id": step_id,
        "step_run_id": step_run_id,
        "data": data,
        "event": storable(stored_event(event, data=data)),
    }


LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` with every string made storable: what an agent prints may hold a NUL (PostgreSQL's
    text and jsonb refuse it) or, once its JSON is decoded, a lone surrogate (no database takes it);
    each becomes U+FFFD, so a valid line never fails its step."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        if not value.isascii():
            value = LONE_SURROGATE.sub("\ufffd", value)
        return value
    if isinstance(value, dict):
        return {key: storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def stored_event(event: dict[str, Any], *, data: str) -> dict[str, Any]:
    """The event without the copies of the line that ``data`` already carries: never ``raw`` (the
    line as printed: its fields are the event's, its text is ``data``), and ``text`` only when
    ``data`` does not show it whole (a long tool result, a final answer)."""
    kept = {key: value for key, value in event.items() if key != "raw"}
    text = kept.get("text")
    if isinstance(text, str) and text in data:
        del kept["text"]
    return kept


def step_start_frame(*, execution_id: int, step_id: int | None, step_run_id: int, step_name: str) -> dict[str, Any]:
    return {
        "type": "step_start",
        "execution_id": execution_id,
        "step_id": step_id,
        "step_run_id": step_run_id,
        "step_name": step_name,
    }


def step_complete_frame(
    *,
    execution_id: int,
    step_id: int | None,
    step_run_id: int,
    step_name: str,
    success: bool,
    output: str | None,
    error: str | None,
) -> dict[str, Any]:
    return {
        "type": "step_complete",
        "execution_id": execution_id,
        "step_id": step_id,
        "step_run_id": step_run_id,
        "step_name": step_name,  # the reference runner left it out; the app shows "undefined" then
        "success": success,
        "output": (output or "")[:OUTPUT_PREVIEW],
        "error": error,
    }


def status_frame(*, execution_id: int, status: str, error: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "status", "execution_id": execution_id, "status": status}
    if error:
        frame["error"] = error
    return frame
