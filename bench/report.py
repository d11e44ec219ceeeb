"""Results of one benchmark, their statistics, and the markdown of ``docs/benchmarks.md``."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Section:
    key: str
    title: str
    target: str
    met: bool | None = None  # None: no pass/fail target, figures only
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        verdict = {True: "**met**", False: "**not met**", None: "(figures only)"}[self.met]
        parts = [f"<!-- bench:{self.key} -->", f"## {self.title}", "", f"Target: {self.target} — {verdict}", ""]
        for table in self.tables:
            parts += [table.markdown(), ""]
        parts += [f"- {note}" for note in self.notes]
        parts += ["", f"<!-- /bench:{self.key} -->"]
        return "\n".join(parts)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); with 30 samples p99 is the worst one."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def summary_ms(values: Sequence[float]) -> tuple[str, str, str, str]:
    """p50, p99, mean and max, in milliseconds."""
    return ms(percentile(values, 50)), ms(percentile(values, 99)), ms(statistics.fmean(values)), ms(max(values))


HEADER = """# Benchmarks

Written by `make bench` (`python -m bench`; `python -m bench NAME` reruns one section). Every
figure is measured against real `manage.py serve` processes the bench starts (each with its own
data dir, migrated first), except the query counts and the in-process update cost, which run
Django in the bench process against a migrated SQLite database in a temporary directory. The
benchmark clients run in the bench process (the idle-socket clients in a few child processes), on
the same machine as the hub: they share its CPUs.
"""


WHERE_THE_TIME_GOES = """## Where the time goes

Profiled on this machine while others worked on it (load average 10 to 18 on two cores), so
only ratios from interleaved runs are given; `make bench` on a quiet machine gives the figures.

- **Hops between the event loop and threads.** Django's ASGI handler runs an async middleware
  chain. Each of Django's `MiddlewareMixin` middlewares (security, sessions, common, CSRF, auth,
  messages, clickjacking) enters its request half and its response half through `sync_to_async`;
  the hub's own synchronous middlewares (Host and Origin checks, JSON errors) and WhiteNoise turn
  the chain back to synchronous with `async_to_sync`; the view, `request_started` and the
  response's `close()` (`request_finished`) are one hop each: about a dozen per request. Each
  request also gets a new thread (`ThreadSensitiveContext`), so on SQLite a new connection (the
  file opened, the PRAGMAs run again). One `sync_to_async` round trip costs about 60 µs on an idle
  loop and 200 to 900 µs on this busy machine: each hop waits for the other thread to be scheduled.
- **The fix, on SQLite:** `orchestra_site/asgi_handler.py` reads the body on the loop, then does
  the whole synchronous request (`request_started`, the same middleware in the same order, the
  view, `close()`) in one call on a pool of four threads that keep their connections, and sends
  the bytes from the loop. Driving the ASGI application in process with no server, it answers
  `GET /health` 2 to 10 times and `PUT …/desired` 3.5 to 5 times as fast as Django's handler.
  Through `serve`, one keep-alive client, against the previous version in the same run: `/health`
  3.4x, `PUT desired` 3.6x, `POST node` 2.1x, the 200-node graph read about 1x (it is spent
  building 69 KiB of JSON); 16 clients putting desired: 2 to 3 times the requests a second, p99
  0.3 to 0.7 times.
- **PostgreSQL + Redis uses the one hop too.** It had kept Django's handler after one measurement
  put the one hop at 0.5 to 0.85 times Django's (`PUT desired` in process); that did not hold up.
  A request there is mostly round trips to PostgreSQL (the pool's check of the connection it
  hands out, `BEGIN`, the statements, `COMMIT`), each waiting for the server's process to be
  scheduled, and on two shared cores that swings single rounds by 2x (49 to 132 requests a second
  for one handler in one run). In alternating rounds (load average 4 to 8) the one hop was 1.65x
  Django's handler in process with one client, 1.17x with 16; through `serve` with 16 clients it
  took 0.7 times the serve CPU per request (`PUT desired` 7.7 to 7.9 ms against 10.5 to 11.6,
  node creation 10.6 to 11.0 against 16.1 to 17.5). On PostgreSQL the serve CPU per node creation
  also goes to psycopg's round trips (send, poll, the GIL taken back after each), the pool's
  check and hand-over, and the Redis `group_send` of the event on the loop, where SQLite has one
  in-process outbox INSERT.
- **SQLite's busy handler.** A writer that finds SQLite's write lock taken sleeps in its busy
  handler in steps growing to 100 ms, long after the lock was freed: that was the 1.4 to 1.6 s
  tail of section 8. The hub's own writers now queue for it in the process
  (`orchestra_site/db/sqlite3/`); interleaved with the previous version (load average 3 to 5),
  the 16-client maximum fell from 0.8-1.5 s to 0.22-0.25 s on `PUT desired` and from 1.2-2.0 s to
  0.27-0.43 s on node creation, p99 to 0.6-0.8x and 0.4-0.6x.
- **The server.** With a trivial ASGI application and one keep-alive client, daphne answers about
  1,400 requests a second and uvicorn (httptools, uvloop) about 5,400: some 0.7 ms against 0.2 ms
  a request. With the hub itself on SQLite (the one-hop handler under both, one keep-alive client,
  three alternating rounds on a quiet machine, medians) uvicorn answered `GET /health` 1,026 a
  second against daphne's 749 (1.37x) and `PUT …/desired` 743 against 576 (1.29x). Once the hops
  are gone, daphne is the largest part of what is left for small requests, so `serve` now runs
  uvicorn (`orchestra_site/asgi_server.py`; `runserver` keeps daphne). Measured after the move,
  daphne's `serve` against uvicorn's in alternating runs on a busy machine (load average 4 to 8,
  two runs of each, served figures): `GET /health` 218 against 416 a second (1.9x),
  `PUT …/desired` 131 against 221 (1.3x and 2.1x), `POST …/nodes` 79 against 106 (1.2x and 1.5x),
  the 200-node graph 33 against 38 (1.4x and 0.8x: it is spent building JSON), one keep-alive
  client; 16 clients on the in-memory layer, 176 against 254 PUTs a second, p99 365 against 246
  ms; on PostgreSQL + Redis, 70 against 91, p99 502 against 389 ms; a fan-out to 1000 raw sockets,
  56 to 68 ms of `serve`'s CPU a round against 48 to 49, and to 1000 Socket.IO ones 198 to 214
  against 138 to 146 (p99 1.0 to 1.2 s against 0.4 to 0.5 s at that load); 10 000 idle sockets,
  32.4 KiB each against 30.9 raw and 43.4 against 41.4 Socket.IO. Under uvicorn the WebSocket
  protocol is the websockets library's sans-I/O one: wsproto's was about as lean (29.9 KiB a
  socket, 47 to 52 ms a round) and websockets' asyncio one heavier (38.8 KiB, 64 to 66 ms); the
  sans-I/O one also refuses an oversized frame from its header, before reading it.
- **The worst fan-out rounds are the garbage collector.** With 1000 sockets open, serve tracks
  200 000 to 325 000 objects, and a full (generation 2) collection of them stops the event loop for
  150 to 325 ms (a `gc.callbacks` probe in serve during `bench fanout`, 17:12 UTC: ten full
  collections per hub, most while the clients connect or close, a few during the rounds). That
  is the single 300 to 400 ms round of some Socket.IO runs; the p50 of the same runs is 46 to 65 ms.
  Not yet addressed: `gc.freeze()` after start-up only removes the ~50 000 start-up objects from
  those passes, the per-connection objects remain.
- **Queries.** A desired change, a running report, a reserved or released slot and a node
  creation (with its parents) are each at most five queries on both databases (`BEGIN` and `COMMIT` included), with
  one outbox INSERT per change on the in-memory layer; asserted in the query-budget tests.
"""


def write(sections: list[Section], machine_md: str, order: list[str], path: Path = DOC) -> None:
    """Write the document; sections not rerun this time are kept from the previous file."""
    kept: dict[str, str] = {}
    if path.exists():
        for match in re.finditer(r"<!-- bench:(\w+) -->.*?<!-- /bench:\1 -->", path.read_text(), re.S):
            kept[match.group(1)] = match.group(0)
    kept.update({section.key: section.markdown() for section in sections})
    body = [kept[key] for key in order if key in kept]
    summary = Table(["Benchmark", "Target", "Met"])
    for block in body:
        title = re.search(r"^## (.+)$", block, re.M)
        target = re.search(r"^Target: (.+) — (.+)$", block, re.M)
        if title and target:
            summary.add(title.group(1), target.group(1), target.group(2))
    text = "\n\n".join([HEADER, "## Summary\n\n" + summary.markdown(), machine_md, WHERE_THE_TIME_GOES, *body])
    text = text.rstrip("\n") + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
