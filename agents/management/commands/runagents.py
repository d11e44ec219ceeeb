"""``manage.py runagents``: a runner process beside ``serve``, on this or another machine.

Every runner shares the work queue in the database: claims are compare-and-set, so runners never
start the same step twice nor exceed a workspace's ``desired``. Events reach the clients through
Redis, or, on the in-memory layer, through the outbox that ``serve`` relays.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from agents.runner.loop import Runner
from orchestra_site import services as site_services
from orchestra_site.heartbeat import Heartbeat
from orchestra_site.models import HubProcess
from orchestra_site.outages import TRANSIENT
from orchestra_site.preflight import preflight


class Command(BaseCommand):
    help = "Run agents from the shared queue until SIGTERM/SIGINT (running agents are stopped politely)."

    def handle(self, *args: Any, **options: Any) -> None:
        preflight(write=self.stdout.write, migrate=False)
        process = site_services.hub_process_register(kind=HubProcess.KIND_RUNNER)
        stop = threading.Event()
        heartbeat = Heartbeat(process_id=process.pk, stop=stop)
        runner = Runner(hub_process_id=process.pk, stop=stop, heartbeat=heartbeat)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: runner.halt())
        heartbeat.start()
        self.stdout.write(f"runagents {process.hostname}:{process.pid} taking work (runner id {process.pk})")
        try:
            runner.run_forever()
        finally:
            stop.set()
            heartbeat.join(timeout=settings.RUNNER_HEARTBEAT + 1)
            try:
                site_services.hub_process_stop(process_id=process.pk)
            except TRANSIENT:  # the database is away: peers see the heartbeat stop instead
                pass
        self.stdout.write("runagents stopped.")
