"""One thread per process writes every running step's log, in one transaction per interval.

It replaces each step's ``LogWriter`` writing its own frames every 0.1 s. With 20 agents each
printing 50 lines a second that was about 200 write transactions a second, and on SQLite every
one queues for the database's single write lock ahead of the API's writes: PUT desired p99 went
from 159 ms (200 sockets) to 368 ms with the agents too (docs/benchmarks.md, section 10, 03:56
UTC run). Here the same output is about 10 transactions a second, whatever the number of agents.

What the steps' own writes guaranteed still holds:
- Order: a writer's frames are taken and committed under its ``write_lock``, so the frames of a
  step land in the order it added them whoever writes them (the flusher, or the step's own
  ``flush`` at its end, which waits for a write in flight). Executions are locked in id order, so
  two processes' flushers never deadlock on PostgreSQL.
- No loss through an outage: a transaction the database refuses puts every writer's frames back
  in front of its buffer (bounded by ``MAX_UNWRITTEN_BYTES``) for the next interval.
- One bad execution (deleted while its agent ran) costs only its own frames: the batch is then
  written writer by writer, and the refused writer's error is raised in its step at its next
  ``add`` or ``flush``, as its own write would have raised it.
- The frames of a transaction are sent after it commits, one message for all its executions.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from django.db import close_old_connections, connection, transaction

from orchestra_site.outages import TRANSIENT, forget_broken_connection
from orchestra_site.realtime.events import broadcast_groups, execution_group

if TYPE_CHECKING:
    from agents.logs import LogWriter

logger = logging.getLogger(__name__)
FLUSH_EVERY = 0.1  # seconds: how late a line may reach the terminal


class SharedLogFlusher:
    """Writes the frames of every ``LogWriter`` that has some, every ``every`` seconds.

    Writers ask for it (``schedule``) when their buffer stops being empty, so an idle step costs
    nothing and a step whose worker died still has its last frames written. The thread starts
    with the first frame and, while nothing is pending, holds no database connection.
    """

    def __init__(self, every: float = FLUSH_EVERY) -> None:
        self.every = every
        self.guard = threading.Condition()
        self.waiting: dict[int, LogWriter] = {}  # id → writer, in the order they asked
        self.thread: threading.Thread | None = None

    def schedule(self, writer: LogWriter) -> None:
        with self.guard:
            self.waiting.setdefault(id(writer), writer)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run, name="log-flusher", daemon=True)
                self.thread.start()
            self.guard.notify()

    def run(self) -> None:
        while True:
            with self.guard:
                idle = not self.waiting
            if idle:
                connection.close()  # nothing to write: hold no connection meanwhile
                with self.guard:
                    while not self.waiting:
                        self.guard.wait()
            time.sleep(self.every)  # what arrives meanwhile goes in the same write
            try:
                self.flush_now()
            except Exception:  # the thread must outlive any one write
                logger.exception("writing the agents' logs failed")

    def flush_now(self) -> int:
        """Write every waiting writer's frames in one transaction; the number of writers written."""
        with self.guard:
            writers, self.waiting = list(self.waiting.values()), {}
        taken: list[tuple[LogWriter, list[dict[str, Any]]]] = []
        try:
            for writer in writers:
                if not writer.write_lock.acquire(blocking=False):
                    self.schedule(writer)  # its step is writing them itself; whatever is left goes next time
                    continue
                frames = writer.take()
                if frames:
                    taken.append((writer, frames))
                else:
                    writer.write_lock.release()
            if taken:
                self.write(taken)
        finally:
            for writer, _ in taken:
                writer.write_lock.release()
            close_old_connections()  # a pooled PostgreSQL connection goes back between writes
        return len(taken)

    def write(self, taken: list[tuple[LogWriter, list[dict[str, Any]]]]) -> None:
        try:
            write_together(taken)
        except TRANSIENT as error:
            forget_broken_connection()
            for writer, frames in taken:
                writer.keep(frames, error)
        except Exception:
            for writer, frames in taken:  # find the refused writer; the others' frames still land
                self.write_alone(writer, frames)
        else:
            for writer, _ in taken:
                writer.outage.recovered()

    def write_alone(self, writer: LogWriter, frames: list[dict[str, Any]]) -> None:
        try:
            write_together([(writer, frames)])
        except TRANSIENT as error:
            forget_broken_connection()
            writer.keep(frames, error)
        except Exception as error:
            writer.refused = error
        else:
            writer.outage.recovered()


def write_together(taken: list[tuple[LogWriter, list[dict[str, Any]]]]) -> None:
    """Store several writers' frames in one transaction and send them after it commits."""
    from agents.logs import store_entries  # agents.logs imports this module

    ordered = sorted(taken, key=lambda item: item[0].execution_id)  # stable: each step's order kept
    with transaction.atomic():
        stored = store_entries([(writer.execution_id, writer.step_run_id, frames) for writer, frames in ordered])
        broadcast_groups([(execution_group(execution_id), batch) for execution_id, batch in stored])
    for (writer, _), (_, batch) in zip(ordered, stored, strict=True):  # committed: a delta comes after them
        writer.stored([seq for _, seq in batch if seq is not None])


shared = SharedLogFlusher()


def schedule(writer: LogWriter) -> None:
    """Have ``writer``'s buffered frames written with the next shared flush."""
    shared.schedule(writer)
