"""A network partition between one hub process and the database, made by a proxy that stops passing bytes.

The process connects to the database through this proxy. ``cut`` holds every byte in both
directions without closing anything, as a dropped route would: the process's queries hang, and the
server keeps the process's sessions, and any transaction they left open with its row locks, until
the connection speaks again. ``heal`` delivers what was held and passes bytes again.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.chaos.cluster import Cluster


class Partition:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.passing = threading.Event()
        self.passing.set()
        self.closed = False
        self.sockets: list[socket.socket] = []
        self.upstream_ports: list[int] = []  # the database sees these as its clients' ports

    def __enter__(self) -> Partition:
        threading.Thread(target=self.accept_forever, name="partition-accept", daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def accept_forever(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the database is down: so is the connection
                continue
            self.sockets += [client, upstream]
            self.upstream_ports.append(int(upstream.getsockname()[1]))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pump, args=(source, target), daemon=True).start()

    def pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self.passing.wait()  # cut: hold the bytes, close nothing
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.passing.clear()

    def heal(self) -> None:
        self.passing.set()

    def cut_inside_a_transaction(self, cluster: Cluster, *, timeout: float) -> str:
        """Cut at a moment when a session behind the proxy is inside a transaction, holding locks.

        Cut, look, and unless a session is caught between two statements of a transaction that
        holds locks on the hub's tables, heal and try again a moment later. After ``timeout``, a
        transaction without such locks will do, and after twice that the cut stays wherever it
        falls. Says what it caught.
        """
        started = time.monotonic()
        while True:
            self.cut()
            time.sleep(0.05)  # whatever was on the wire has arrived
            rows = cluster.query(
                "SELECT a.pid, left(a.query, 90), coalesce(string_agg(DISTINCT c.relname || ' ' || l.mode, ', '), '')"
                " FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND l.granted"
                " LEFT JOIN pg_class c ON c.oid = l.relation AND c.relkind = 'r'"
                " AND c.relnamespace = 'public'::regnamespace"
                " WHERE a.client_port = ANY(%s) AND a.state = 'idle in transaction' GROUP BY a.pid, a.query",
                self.upstream_ports,
            )
            waited = time.monotonic() - started
            for pid, query, locks in sorted(rows, key=lambda row: not row[2]):
                if locks or waited > timeout:
                    held = locks or "no table locks"
                    return f"session {pid} idle in transaction after {query!r}, holding {held}"
            if waited > 2 * timeout:
                return "no transaction caught in time: cut between transactions"
            self.heal()
            time.sleep(random.uniform(0.02, 0.25))

    def close(self) -> None:
        self.closed = True
        self.heal()
        with contextlib.suppress(OSError):
            self.listener.close()
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.close()
