"""``manage.py serve``: the whole hub.

HTTP API, WebSockets (uvicorn: ``orchestra_site.asgi_server``), the outbox relay (in-memory layer
only), the periodic workspace cleanup, the heartbeat and the agent runner, on
``ORCHESTRA_HOST:ORCHESTRA_PORT``, in one process and on one uvloop event loop; with ``--workers N``
(or ``ORCHESTRA_WORKERS``) N worker processes answer on that port and this process runs the rest
once (``orchestra_site.workers``). SIGTERM and SIGINT stop it cleanly: background work stops, then
the server closes its connections.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import uvloop
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents.services.worktrees import worktrees_prune
from orchestra_site import services as site_services
from orchestra_site.asgi_server import HubServer, server_config
from orchestra_site.gc_schedule import CollectionSchedule, freeze_startup_objects
from orchestra_site.heartbeat import HUB_PROCESS_ENV, Heartbeat
from orchestra_site.models import HubProcess
from orchestra_site.outages import TRANSIENT
from orchestra_site.preflight import preflight
from orchestra_site.realtime.events import bind_event_loop, layer_is_shared
from orchestra_site.realtime.relay import OutboxRelay
from orchestra_site.workers import WorkerPool, listen, relay_from_parent
from orchestration.services import workspaces_prune, workspaces_reset_running
from orchestration.socketio_server import transports_close

logger = logging.getLogger("orchestra.serve")
# How long the parent of ``--workers N`` waits for its workers to close their connections.
WORKER_STOP_TIMEOUT = 15.0


class Command(BaseCommand):
    help = "Run the complete hub (API, WebSockets, runner, cleanup): in this one process, or with --workers N."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help="default: ORCHESTRA_HOST")
        parser.add_argument("--port", type=int, default=None, help="default: ORCHESTRA_PORT")
        parser.add_argument("--no-runner", action="store_true", help="do not run agents in this process")
        parser.add_argument(
            "--workers", type=int, default=None, help="processes answering on the port; default: ORCHESTRA_WORKERS"
        )
        # Internal: how the parent of --workers N starts each worker on its listening socket.
        parser.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)

    def handle(
        self,
        *args: Any,
        host: str | None,
        port: int | None,
        no_runner: bool,
        workers: int | None,
        worker_fd: int | None,
        **options: Any,
    ) -> None:
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []
        if worker_fd is not None:
            self.serve_worker(worker_fd)
            return
        self.host = host or settings.HUB_HOST
        self.port = port or settings.HUB_PORT
        self.with_runner = not no_runner
        count = settings.WORKERS if workers is None else workers
        if not 1 <= count <= 64:
            raise CommandError(f"--workers {count} is not valid: an integer from 1 to 64.")
        preflight(write=self.stdout.write)
        try:
            sockets = listen(self.host, self.port, count)
        except OSError as error:
            raise CommandError(f"cannot listen on {self.host}:{self.port}: {error.strerror or error}") from None
        self.process = site_services.hub_process_register(kind=HubProcess.KIND_SERVE)
        heartbeat_stop = threading.Event()
        self.heartbeat = Heartbeat(process_id=self.process.pk, stop=heartbeat_stop)
        self.heartbeat.start()
        os.environ[HUB_PROCESS_ENV] = str(self.process.pk)  # its workers' /health reads this heartbeat
        failure = None
        try:
            self.publish_workspace_roots()
            self.reconcile_after_restart()
            if count > 1:
                failure = asyncio.run(self.supervise(sockets))
            else:
                run_on_uvloop(self.serve(sockets[0], self.start_background, self.ready))
        finally:
            for sock in sockets:
                sock.close()
            heartbeat_stop.set()
            self.heartbeat.join(timeout=settings.RUNNER_HEARTBEAT + 1)
            try:
                site_services.hub_process_stop(process_id=self.process.pk)
            except TRANSIENT:  # the database is away: peers see the heartbeat stop instead
                logger.warning("could not record this process's stop: the database is unreachable")
        if failure:
            raise CommandError(failure)
        self.stdout.write("Orchestra hub stopped.")

    async def serve(self, sock: socket.socket, start: Callable[[], None], ready: Callable[[], None] | None) -> None:
        """uvicorn on ``sock`` and, beside it on this event loop, what ``start`` starts and the full
        garbage collections (``orchestra_site.gc_schedule``), until SIGTERM or SIGINT: then that
        work stops first, and the server closes its connections after."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop.set)
        bind_event_loop(loop)
        start()
        server = HubServer(server_config(), ready=ready)
        freeze_startup_objects()
        collections = CollectionSchedule()
        collections.start()
        collecting = asyncio.ensure_future(collections.run(self.stop))
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        stopped = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
        self.stop.set()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=settings.CANCEL_GRACE + 5)
        await transports_close()  # Socket.IO's long-polls would hold the server's stop up
        server.should_exit = True
        await serving
        await collecting

    async def supervise(self, sockets: list[socket.socket]) -> str | None:
        """The parent of ``--workers N``: the workers answer, this process runs the rest once."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop.set)
        pool = WorkerPool(sockets)
        relay = None
        if not layer_is_shared():
            relay = OutboxRelay(forward=pool.forward)
            await relay.start()  # before any worker can write a row
        await pool.start()
        self.tasks = [loop.create_task(job()) for job in self.background_jobs(relay)]
        where = f"http://{self.host}:{self.port}"
        self.stdout.write(f"Orchestra hub listening on {where} ({len(sockets)} workers)", ending="\n")
        self.stdout.flush()
        failure = await pool.watch(self.stop)
        self.stop.set()
        await pool.stop(timeout=WORKER_STOP_TIMEOUT)
        await asyncio.wait(self.tasks, timeout=settings.CANCEL_GRACE + 5)
        return failure

    def serve_worker(self, fd: int) -> None:
        """One worker of ``--workers N``: uvicorn on the parent's socket, and the parent's relay."""
        run_on_uvloop(self.serve(socket.socket(fileno=fd), self.start_worker, ready=None))

    def start_worker(self) -> None:
        async def relay_until_stopped() -> None:
            relay = asyncio.ensure_future(relay_from_parent(on_eof=self.parent_gone))
            stopped = asyncio.ensure_future(self.stop.wait())
            await asyncio.wait({relay, stopped}, return_when=asyncio.FIRST_COMPLETED)
            relay.cancel()
            stopped.cancel()

        self.tasks = [asyncio.get_running_loop().create_task(relay_until_stopped())]

    def parent_gone(self) -> None:
        if not self.stop.is_set():
            logger.warning("the hub's parent process is gone; this worker stops")
            self.stop.set()  # as its parent's SIGTERM would

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
        loop = asyncio.get_running_loop()
        relay = None if layer_is_shared() else OutboxRelay()
        self.tasks = [loop.create_task(job()) for job in self.background_jobs(relay)]

    def background_jobs(self, relay: OutboxRelay | None) -> list[Callable[[], Coroutine[Any, Any, None]]]:
        """What a hub runs once, beside its one process or in the parent of its workers."""
        jobs: list[Callable[[], Coroutine[Any, Any, None]]] = [self.prune_periodically]
        if relay is not None:
            jobs.append(lambda: relay.run(self.stop))
        if self.with_runner:
            from agents.runner.host import run_in_process

            jobs.append(lambda: run_in_process(self.stop, hub_process_id=self.process.pk, heartbeat=self.heartbeat))
        return jobs

    async def prune_periodically(self) -> None:
        while not await self.sleep(settings.PRUNE_INTERVAL):
            try:
                removed = await database_sync_to_async(workspaces_prune)(
                    older_than=timedelta(seconds=settings.WORKSPACE_TTL)
                )
                if removed:
                    logger.info("pruned %d workspace(s)", len(removed))
                worktrees = await database_sync_to_async(worktrees_prune)()
                if worktrees:
                    logger.info("removed the worktrees of %d merged or discarded execution(s)", len(worktrees))
            except Exception:
                logger.exception("periodic prune failed")

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless asked to stop; True when the hub is stopping."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


def run_on_uvloop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on a uvloop event loop: the server and the hub's background work share it."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)
