"""Full garbage collections run when the hub is quiet, not in the middle of a fan-out."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from orchestra_site import gc_schedule
from orchestra_site.gc_schedule import MAX_DELAY, TICK, CollectionSchedule


class Process:
    """A stand-in for the interpreter: its clock, its CPU time and its collector's counts."""

    def __init__(self) -> None:
        self.now = 100.0
        self.cpu = 5.0
        self.young = 0
        self.objects = 1000
        self.collections = 0
        self.counts = 0

    def schedule(self) -> CollectionSchedule:
        def long_lived() -> int:
            self.counts += 1
            return self.objects

        def collect() -> None:
            self.collections += 1
            self.young = 0
            self.objects = 1000

        return CollectionSchedule(
            cpu_time=lambda: self.cpu,
            clock=lambda: self.now,
            young_collections=lambda: self.young,
            long_lived=long_lived,
            collect=collect,
        )

    def run_for(self, seconds: float, *, busy: float) -> None:
        """``seconds`` pass with the process using ``busy`` of one core."""
        self.now += seconds
        self.cpu += seconds * busy

    def make_due(self) -> None:
        self.young = 12
        self.objects = 2000


@pytest.fixture
def process():
    saved = gc.get_threshold()
    yield Process()
    gc.set_threshold(*saved)


def test_serving_takes_full_collections_over_from_cpython_and_hands_them_back(process):
    before = gc.get_threshold()
    schedule = process.schedule()
    schedule.start()
    young, middle, full = gc.get_threshold()
    assert (young, middle) == before[:2]
    assert full >= 2**31 - 1, "CPython would still start full collections of its own"
    schedule.stop()
    assert gc.get_threshold() == before


def test_a_due_collection_runs_at_the_first_quiet_tick(process):
    schedule = process.schedule()
    schedule.start()
    process.run_for(TICK, busy=0.9)
    assert not schedule.tick()
    process.make_due()
    process.run_for(TICK, busy=0.9)
    assert not schedule.tick(), "collected while the hub was busy"
    process.run_for(TICK, busy=0.8)
    assert not schedule.tick()
    process.run_for(TICK, busy=0.02)
    assert schedule.tick()
    assert process.collections == 1
    assert schedule.longest_wait == pytest.approx(2 * TICK)


def test_a_hub_that_is_never_quiet_still_collects_once_the_delay_is_up(process):
    schedule = process.schedule()
    schedule.start()
    process.make_due()
    ticks = 0
    while not schedule.tick():
        process.run_for(TICK, busy=1.0)
        ticks += 1
        assert ticks <= MAX_DELAY / TICK + 1, "memory held by cycles would grow without bound"
    assert process.collections == 1
    assert MAX_DELAY <= schedule.longest_wait < MAX_DELAY + TICK


def test_nothing_is_collected_until_cpythons_own_rule_says_it_is_due(process):
    schedule = process.schedule()
    schedule.start()
    process.young = 9  # fewer young collections than CPython waits for
    process.objects = 5000
    process.run_for(TICK, busy=0)
    assert not schedule.tick()
    process.young = 10
    process.objects = 1200  # long-lived objects grew by a fifth: not yet a quarter
    process.run_for(TICK, busy=0)
    assert not schedule.tick()
    process.young = 11
    process.objects = 1300
    process.run_for(TICK, busy=0)
    assert schedule.tick()


def test_long_lived_objects_are_counted_only_after_another_young_collection(process):
    schedule = process.schedule()
    schedule.start()
    counted = process.counts
    process.young = 10
    for _ in range(20):
        process.run_for(TICK, busy=0)
        schedule.tick()
    assert process.counts == counted + 1, "walked every object again with nothing new to find"


def test_the_schedule_reclaims_cycles_with_the_real_collector():
    class Node:
        link: Node

    saved = gc.get_threshold()
    process = Process()
    # The test process's own long-lived objects (Django, pytest: hundreds of thousands) set aside,
    # as in a small process: CPython's rule (long-lived objects a quarter more) is then met after
    # a few thousand cycles instead of seconds of them. The rule and the collector are the real ones.
    gc.freeze()
    schedule = CollectionSchedule(cpu_time=lambda: process.cpu, clock=lambda: process.now)
    schedule.start()
    try:
        first = Node()
        first.link = first
        cycle = weakref.ref(first)
        gc.collect(1)  # the cycle outlives the young generations, as an open socket's objects do
        del first  # ...then the socket closes: only a full collection can free it now
        gc.collect(1)
        assert cycle() is not None
        garbage = []
        for made in range(1, 2_000_001):
            pair = Node(), Node()
            pair[0].link, pair[1].link = pair[1], pair[0]
            garbage.append(pair)
            if made % 1000 == 0:
                garbage.clear()  # cycles only a collector can free, some already long-lived
                process.run_for(TICK, busy=0)
                if schedule.tick():
                    break
        assert cycle() is None
        assert schedule.collections >= 1
    finally:
        schedule.stop()
        gc.unfreeze()
        gc.set_threshold(*saved)


def test_run_ticks_until_the_hub_stops_then_hands_collections_back(monkeypatch, process):
    monkeypatch.setattr(gc_schedule, "TICK", 0.01)
    before = gc.get_threshold()
    schedule = process.schedule()

    async def serve_briefly() -> None:
        stop = asyncio.Event()
        schedule.start()
        process.make_due()
        running = asyncio.create_task(schedule.run(stop))
        while not process.collections:
            await asyncio.sleep(0.01)
            process.run_for(0.01, busy=0)
        stop.set()
        await asyncio.wait_for(running, 1)

    asyncio.run(serve_briefly())
    assert process.collections == 1
    assert gc.get_threshold() == before
