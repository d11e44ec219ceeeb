"""The runner inside ``manage.py serve``: a thread beside the event loop, stopped with it."""

from __future__ import annotations

import asyncio
import threading

from agents.runner.loop import Runner
from orchestra_site.heartbeat import Heartbeat


async def run_in_process(stop: asyncio.Event, *, hub_process_id: int, heartbeat: Heartbeat) -> None:
    halt = threading.Event()
    runner = Runner(hub_process_id=hub_process_id, stop=halt, heartbeat=heartbeat)
    thread = threading.Thread(target=runner.run_forever, name="agent-runner", daemon=True)
    thread.start()
    await stop.wait()
    runner.halt()
    await asyncio.to_thread(thread.join)
