"""Full garbage collections at quiet moments, for ``manage.py serve``.

CPython collects young objects often and cheaply, and every object in a full (generation 2)
collection: it starts one when ten young (generation 1) collections have run since the last and
the objects that outlived them add a quarter to those that outlived the last full one. A serving
hub holds a few hundred tracked objects per open socket (its task, coroutines, protocol, consumer
and session), so with 1000 sockets a full collection walks some 300 000 objects and stops the
event loop for 150 to 300 ms: longer than a whole fan-out of an event to every client, and it
lands wherever the allocations happen to cross the line, often in the middle of one.

``CollectionSchedule`` keeps CPython's rule for when a full collection is due and chooses when
it runs instead: at the first tick the process is quiet (under a tenth of a core over the last
tick), and never later than ``MAX_DELAY`` after it fell due, so a hub that is never quiet still
collects once a minute and memory held by cycles cannot grow without bound. Young collections
are untouched. What was imported before serving (Django, the apps, the libraries: some 145 000
objects) is moved out of the collector's sight with ``gc.freeze()``; it lives as long as the
process, so no full collection needs to walk it again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger("orchestra.gc")

# Seconds between two looks at whether a full collection is due and the process quiet.
TICK = 0.5
# "Quiet": the process used under this share of one core since the last tick.
QUIET_CPU = 0.1
# A due collection waits at most this long for a quiet tick.
MAX_DELAY = 60.0
# CPython's own rule: ten young collections since the last full one...
YOUNG_COLLECTIONS = 10
# ...and a quarter more long-lived objects than the last full collection left.
GROWTH = 0.25
# A generation-2 threshold the young collections' count never reaches: no automatic full collection.
NEVER = 2**31 - 1


def freeze_startup_objects() -> None:
    """Collect once, then keep everything alive now out of every later collection."""
    gc.collect()
    gc.freeze()


@dataclass
class CollectionSchedule:
    """Runs the full collections of this process from its event loop; see the module docstring."""

    cpu_time: Callable[[], float] = time.process_time
    clock: Callable[[], float] = time.monotonic
    young_collections: Callable[[], int] = lambda: gc.get_count()[2]
    long_lived: Callable[[], int] = lambda: len(gc.get_objects(generation=2))
    collect: Callable[[], object] = lambda: gc.collect(2)
    collections: int = 0  # full collections run by this schedule
    longest_wait: float = 0.0  # seconds the longest one waited for a quiet tick
    _saved_threshold: tuple[int, int, int] | None = None
    _left: int = 0
    _counted_at: int = -1  # the young-collection count at the last count of long-lived objects
    _due_since: float | None = None
    _last: tuple[float, float] = field(default=(0.0, 0.0))

    def start(self) -> None:
        """Take full collections over from CPython's automatic ones."""
        self._saved_threshold = gc.get_threshold()
        young, middle, _ = self._saved_threshold
        gc.set_threshold(young, middle, NEVER)
        self._left = self.long_lived()
        self._last = (self.clock(), self.cpu_time())

    def stop(self) -> None:
        """Hand full collections back to CPython."""
        if self._saved_threshold is not None:
            gc.set_threshold(*self._saved_threshold)
            self._saved_threshold = None

    def tick(self) -> bool:
        """One look: run a full collection if one is due and now is the time; True if it ran."""
        now, cpu = self.clock(), self.cpu_time()
        last_now, last_cpu = self._last
        self._last = (now, cpu)
        if self._due_since is None:
            if not self._due():
                return False
            self._due_since = now
        quiet = cpu - last_cpu < QUIET_CPU * max(now - last_now, 0.0)
        waited = now - self._due_since
        if not quiet and waited < MAX_DELAY:
            return False
        started = time.perf_counter()
        self.collect()
        took = time.perf_counter() - started
        self._left = self.long_lived()
        logger.debug(
            "full collection: %.0f ms, %d objects left, %.1f s after it fell due (%s)",
            took * 1000,
            self._left,
            waited,
            "quiet" if quiet else "waited long enough",
        )
        self._counted_at = -1
        self._due_since = None
        self.collections += 1
        self.longest_wait = max(self.longest_wait, waited)
        self._last = (self.clock(), self.cpu_time())  # the collection's own CPU is not the hub's
        return True

    def _due(self) -> bool:
        young = self.young_collections()
        if young < YOUNG_COLLECTIONS or young == self._counted_at:
            return False  # counting the long-lived objects walks them all: only after a young collection
        self._counted_at = young
        return self.long_lived() - self._left > self._left * GROWTH

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set, then hand full collections back to CPython."""
        try:
            while True:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=TICK)
                    return
                except TimeoutError:
                    self.tick()
        finally:
            self.stop()
