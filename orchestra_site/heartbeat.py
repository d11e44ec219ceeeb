"""A hub process's heartbeat: renewed while the process lives, whatever the database does.

Peers read ``HubProcess.heartbeat_at``: a runner that has not beaten for
``ORCHESTRA_RUNNER_DEAD_AFTER`` is dead to them, and they reap its steps (mark them crashed, free
their slots, run them again). So a process must never stop beating while it lives, and a process
that *cannot* beat (cut off from the database, frozen, its database restarting for long) must stop
its own agents before its peers may take their steps: otherwise one step runs twice at once.

``Heartbeat`` is a thread that renews the row every ``ORCHESTRA_RUNNER_HEARTBEAT``, retries with
backoff through database errors (logging an outage once), and tells its runner:

- ``fenced``: the last renewal is older than ``fence_after()``, half of the dead-after time. The
  runner then claims nothing and stops its agents, well before any peer may reap them;
- ``lapsed``: a renewal finally landed after such a gap (the process was frozen, or the database
  was away for long): peers may already have reaped this runner's steps, so whatever it still runs
  is stopped.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from orchestra_site import services as site_services
from orchestra_site.outages import Outage, backoff, forget_broken_connection

# ``serve`` names its process row here, so that its ``--workers`` children's ``/health`` reads it.
HUB_PROCESS_ENV = "ORCHESTRA_HUB_PROCESS_ID"


def fence_after() -> float:
    """Seconds without a renewal after which a process stops its agents: half the time after
    which its peers may reap them, which leaves the other half for the agents to stop."""
    return settings.RUNNER_DEAD_AFTER / 2


def own_connection() -> BaseDatabaseWrapper:
    """A connection of the default database for this thread alone, outside the PostgreSQL pool: a
    pool every connection has been taken from must not stop a live process from beating (its peers
    would reap its agents). ``connections`` is per thread, so only the heartbeat's thread uses it."""
    wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
    options = {key: value for key, value in wrapper.settings_dict.get("OPTIONS", {}).items() if key != "pool"}
    wrapper.settings_dict = {**wrapper.settings_dict, "OPTIONS": options}
    return wrapper


class Heartbeat(threading.Thread):
    def __init__(self, *, process_id: int, stop: threading.Event) -> None:
        super().__init__(name=f"heartbeat-{process_id}", daemon=True)
        self.process_id = process_id
        self.stop = stop
        self.last_renewed = time.monotonic()  # registering the process wrote the first beat
        self.lapsed = threading.Event()
        self.outage = Outage(f"the heartbeat of hub process {process_id}")
        self.failures = 0

    def run(self) -> None:
        connections[DEFAULT_DB_ALIAS] = own_connection()
        try:
            while not self.stop.wait(self.next_wait()):
                self.beat()
        finally:
            connections[DEFAULT_DB_ALIAS].close()

    def next_wait(self) -> float:
        """The beat interval; sooner while the database refuses, so an outage ends in one beat."""
        if self.failures:
            return min(backoff(self.failures), settings.RUNNER_HEARTBEAT)
        return settings.RUNNER_HEARTBEAT

    def beat(self) -> bool:
        """Renew the row once; False when the database refused."""
        started = time.monotonic()
        try:
            if not site_services.hub_process_heartbeat(process_id=self.process_id):
                raise LookupError(f"hub process {self.process_id} is gone from the database or marked stopped")
        except Exception as error:  # whatever it is, the next beat tries again
            self.failures += 1
            self.outage.failed(error)
            forget_broken_connection()
            return False
        self.failures = 0
        self.outage.recovered()
        if started - self.last_renewed > fence_after():
            self.lapsed.set()
        self.last_renewed = started
        return True

    @property
    def age(self) -> float:
        """Seconds since the start of the last renewal that landed."""
        return time.monotonic() - self.last_renewed

    @property
    def fenced(self) -> bool:
        return self.age > fence_after()
