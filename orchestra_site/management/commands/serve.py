"""``manage.py serve``: the whole hub in one process.

HTTP API, WebSockets (daphne), the outbox relay (in-memory layer only), the periodic workspace
cleanup, the heartbeat and the agent runner, on ``ORCHESTRA_HOST:ORCHESTRA_PORT``. SIGTERM and
SIGINT stop it cleanly: background work stops, then daphne closes its connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

# daphne.server installs Twisted's asyncio reactor; it must be imported before anything Twisted.
import daphne.server
from channels.db import database_sync_to_async
from channels.routing import get_default_application
from daphne.endpoints import build_endpoint_description_strings
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from twisted.internet import defer, reactor

from orchestra_site import services as site_services
from orchestra_site.models import HubProcess
from orchestra_site.preflight import preflight
from orchestra_site.realtime.events import bind_event_loop, layer_is_shared
from orchestra_site.realtime.relay import OutboxRelay
from orchestra_site.realtime.write_through import install as install_write_through
from orchestration.services import workspaces_prune, workspaces_reset_running

logger = logging.getLogger("orchestra.serve")


class Command(BaseCommand):
    help = "Run the complete hub (API, WebSockets, runner, cleanup) in this one process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="default: ORCHESTRA_HOST")
        parser.add_argument("--port", type=int, default=None, help="default: ORCHESTRA_PORT")
        parser.add_argument("--no-runner", action="store_true", help="do not run agents in this process")

    def handle(self, *args: Any, host: str | None, port: int | None, no_runner: bool, **options: Any) -> None:
        self.host = host or settings.HUB_HOST
        self.port = port or settings.HUB_PORT
        self.with_runner = not no_runner
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        preflight(write=self.stdout.write)
        self.process = site_services.hub_process_register(kind=HubProcess.KIND_SERVE)
        self.publish_workspace_roots()
        self.reconcile_after_restart()
        # Sockets send at once when nothing is queued, instead of on the reactor's next turn.
        install_write_through()
        server = daphne.server.Server(
            application=get_default_application(),
            endpoints=build_endpoint_description_strings(host=self.host, port=self.port),
            signal_handlers=True,
            action_logger=None,
            ready_callable=self.ready,
            websocket_timeout=-1,  # keep sockets open for as long as clients stay
        )
        reactor.callWhenRunning(self.start_background)
        # A message over the size limit is answered with a close frame 1009 and a reason, not a
        # dropped TCP connection (autobahn's default), so the client can tell what happened.
        reactor.callWhenRunning(lambda: server.ws_factory.setProtocolOptions(failByDrop=False))
        reactor.addSystemEventTrigger("before", "shutdown", self.stop_background)
        server.run()
        site_services.hub_process_stop(process_id=self.process.pk)
        self.stdout.write("Orchestra hub stopped.")

    def ready(self) -> None:
        self.stdout.write(f"Orchestra hub listening on http://{self.host}:{self.port}", ending="\n")
        self.stdout.flush()

    def publish_workspace_roots(self) -> None:
        """Runners elsewhere then tell a step that waits for them from one nobody may run."""
        from agents.runner.roots import process_roots_register, served_roots

        process_roots_register(process_id=self.process.pk, roots=served_roots(), runs_agents=self.with_runner)

    def reconcile_after_restart(self) -> None:
        """``running`` is never stale: with no live peer, nothing can be running any more."""
        if site_services.hub_peers_alive(process_id=self.process.pk):
            return  # peers keep their own counts; the runner's reaper handles dead peers
        if self.with_runner:
            from agents.runner.recovery import recover_after_hub_restart

            recover_after_hub_restart()
        reset = workspaces_reset_running()
        if reset:
            logger.info("hub restarted: reset running to 0 in %d workspace(s)", reset)

    def start_background(self) -> None:
        loop = asyncio.get_event_loop()
        bind_event_loop(loop)
        jobs: list[Callable[[], Awaitable[None]]] = [self.heartbeat, self.prune_periodically]
        if not layer_is_shared():
            jobs.append(lambda: OutboxRelay().run(self.stop))
        if self.with_runner:
            from agents.runner.host import run_in_process

            jobs.append(lambda: run_in_process(self.stop, hub_process_id=self.process.pk))
        self.tasks = [loop.create_task(job()) for job in jobs]

    def stop_background(self) -> defer.Deferred[None]:
        self.stop.set()

        async def wait() -> None:
            await asyncio.wait(self.tasks, timeout=settings.CANCEL_GRACE + 5)

        return defer.Deferred.fromFuture(asyncio.ensure_future(wait()))

    async def heartbeat(self) -> None:
        while not await self.sleep(settings.RUNNER_HEARTBEAT):
            await database_sync_to_async(site_services.hub_process_heartbeat)(process_id=self.process.pk)

    async def prune_periodically(self) -> None:
        while not await self.sleep(settings.PRUNE_INTERVAL):
            try:
                removed = await database_sync_to_async(workspaces_prune)(
                    older_than=timedelta(seconds=settings.WORKSPACE_TTL)
                )
                if removed:
                    logger.info("pruned %d workspace(s)", len(removed))
            except Exception:
                logger.exception("periodic prune failed")

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True when the hub is stopping."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True
