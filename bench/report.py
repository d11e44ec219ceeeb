"""Results of one benchmark, their statistics, and the markdown of ``docs/benchmarks.md``."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.client import LoadResult

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


def load_columns(result: LoadResult, cpu: float) -> list[str]:
    """The columns every closed-loop load table ends with: requests/s, p50, p99 and max ms, errors, serve CPU."""
    p50, p99, _, worst = summary_ms(result.latencies)
    return [f"{result.rps:.0f}", p50, p99, worst, str(result.errors), f"{cpu:.2f}"]


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
  0.27-0.43 s on node creation, p99 to 0.6-0.8x and 0.4-0.6x. Across processes (`--workers 2`)
  they still slept there, p99 130 to 210 ms; now the head of each process's queue waits at an
  exclusive `flock` on a file beside the database, which the kernel hands over at once (a thread
  of the process waits in `flock()` so the writer can give up after its timeout; that hop
  measured the same as a plain blocking `flock()`, interleaved: 812 and 765 `PUT`s a second
  against 808 and 829):
  interleaved on a quiet machine, two rounds each, `PUT desired` 565 and 618 a second with p99
  151 and 131 ms before, 1,022 and 893 with p99 32 and 35 ms after; node creation 350 and 352
  (p99 204 and 141) before, 593 and 516 (p99 53 and 56) after.
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
- **The garbage collector.** With 1000 sockets open, serve tracks about 280 000 objects: some
  145 000 left by start-up (Django, the apps, the libraries) and about 135 per socket (its task
  and coroutines, protocol, consumer and session). CPython's full (generation 2) collection walks
  them all and stopped the event loop for 150 to 330 ms each time (a `gc.callbacks` probe in serve
  during `bench fanout`: nine or ten per hub, most while clients connect or close, some in the
  middle of the rounds: the single 175 to 400 ms rounds of earlier runs, whose p50 was 30 to 65
  ms). With no sockets, under 16 clients, they came every few hundred milliseconds and walked the
  start-up objects each time. `serve` now moves what start-up left out of the collector's sight
  (`gc.freeze()`) and runs the full collections itself (`orchestra_site/gc_schedule.py`):
  CPython's rule still says when one is due, and it runs at the first half-second tick in which
  serve used under a tenth of a core, or a minute after it fell due if serve is never that quiet.
  In the same probe no full collection ran during the rounds any more; with 1000 sockets connected
  to an otherwise idle hub, one ran 2 s later (100 ms, 136 000 objects left). One run after the
  other on this machine, before and after: 16 clients putting desired on SQLite, 344 then 591 a
  second, p99 103 then 42 ms; creating nodes, 263 then 325, p99 155 then 70 ms; the fan-out's
  worst round of 20 runs 175 then 58 ms. The price: a hub under load that never lets up still
  collects once a minute, and the round or requests caught in that collection wait for it (one
  round in 600 at ten a second: it shows in a run's maximum, not in its p99). Rounds over 100 ms
  still came in some runs while the machine was busy; they were not collections (the probe logged
  none in them, in serve or in the bench) but the PUT or the clients' loop waiting for a core (a
  loop-lag probe on both processes: lags of 40 to 50 ms in serve and the bench together). On a
  quiet machine the slowest of 20 runs' rounds was 78 ms.
- **Rows every write waits for (PostgreSQL).** There serve's CPU was not the limit: with a second
  worker the 16-client figures did not move (`PUT desired` 220 and 233 a second, node creation 166
  and 160) and a third of the two cores stayed idle. Every workspace change updates the one totals
  row (it carries the hub-wide sequence), and every node creation locked its project's row
  `FOR UPDATE`; each held its lock until `COMMIT`, through the round trips in between, so they
  went one at a time. A node creation now takes the project row `FOR SHARE` (edits of the graph's
  shape still take it `FOR UPDATE`, so a creation still never counts a parent being deleted):
  creations side by side, 121 to 166 a second before, 209 to 257 after. A workspace change now
  moves the totals and writes its row in one statement (the totals' `UPDATE` in a `WITH`), so the
  totals row is held for one round trip instead of two: interleaved with the previous code, 170
  and 191 `PUT`s a second before, 236 and 267 after.
  With the waits shortened, a second worker now pays on PostgreSQL (one run each, 16 clients):
  `PUT desired` 232 a second in one process, 392 with `--workers 2` (p99 104 and 88 ms); node
  creation 182 and 339 (p99 127 and 97 ms). On SQLite it pays since the workers' writers wait
  at the file lock rather than in the busy handler (above; section 8).
- **PostgreSQL in one process.** With 16 clients serve's one core is the limit (0.94 of a core).
  py-spy on serve during 3000 `PUT`s: 65% of the HTTP threads' samples wait for PostgreSQL (the
  workspace row's `SELECT … FOR UPDATE`, the `WITH`, `BEGIN` and `COMMIT`), 16% of them in the
  pool's check of the connection it hands out (one more round trip per request); with the check
  turned off, in alternating runs, nothing measurable changed (271 and 278 `PUT`s a second
  against 270 and 262), so it stays: it is what lets a restarted PostgreSQL cost no failed
  request. Eight HTTP threads instead of four, in alternating runs: `PUT desired` p99 110 and 111
  ms against 91 and 88, node creation 109 and 99 against 88 and 86; four stay. A second worker is
  what pays here (section 8).
- **Building SQL.** A node creation's checks (the project is there, each parent is one of its
  nodes) ride in its `INSERT`; they were two querysets built and compiled on every request, a
  fifth of an in-process creation under cProfile. They are now two `SELECT`s written once per
  database (only the `IN` list of parents is joined per request): in process (one client,
  SQLite, four rounds each) 354 to 393 creations a second before, 463 to 495 after; with 16
  clients through serve, 302 to 305 before and 333 to 355 after on SQLite (p99 72 ms before, 62
  and 72 after), 213 to 221 before and 269 after on PostgreSQL (p99 100 to 116 before, 87
  after). What a creation still spends is mostly Django's: DRF copying the input serializer's
  fields for each request (about a tenth under cProfile; copying them one level deep instead
  measured 0.95 to 1.07 times as fast in alternating rounds, not worth a serializer that differs
  from DRF's), the edges' and the outbox row's `bulk_create`, the middleware.
- **Mixed load (section 10): the target is not met.** The agents' output is now written by one
  thread per process, in one transaction every 0.1 s (`agents/log_flusher.py`): about 10 write
  transactions a second for 20 agents instead of about 200, each three statements and one insert
  whatever the number of agents (20 agents' 100 lines in 6.6 ms in process, 16.9 ms as one
  statement set per agent). The fan-out runs at most once per 5 ms tick and hands each socket all
  its waiting frames in one write (`orchestra_site/realtime/send_many.py`), every frame kept, in
  order. In profiled runs of the mix on a busy machine (load 6 to 8) the event loop spent 37% less
  CPU per PUT and the hub answered 1.4 to 1.5 times the PUTs a second; without the tick a fan-out
  carried 1.3 PUTs' frames on average. Section 10 before (03:56 UTC, load 0.84) and after (04:47
  UTC, load 10.2, other engineers' test runs): with the sockets and the agents 78 → 121 PUTs a
  second, p50 204 → 126 ms, p99 368 → 393 ms. The `none` row, which these changes do not touch,
  went from p99 62 to 128 ms between the two runs: the after figures are mostly the machine's
  other work. What is left, from the profile (a CPU-weighted stack sampler inside serve and
  timings of its SQLite writes, 04:08 UTC, load 7): PUTs wait for the process's one SQLite write
  queue (`orchestra_site/db/sqlite3/base.py`) p50 16 ms, p99 99 ms, max 198 ms (43 s in all for
  2 035 PUTs) while their statements and commits take p99 8 and 9 ms: whoever holds the queue (the
  four HTTP threads, the log flush, which itself waits p50 21 ms for it) holds it far longer than
  its work, because after every statement it must get the GIL and a core back from the other
  runnable threads and processes. The event loop is about a third of serve's CPU, most of it in
  uvloop's C code (socket reads and writes), which a Python sampler cannot break down. serve stays
  under one core (0.73) because the two cores are shared with the 200 sockets' client processes,
  the 20 agents, the bench and, in these runs, other engineers' tests.
- **An idle hub.** An idle `serve` used 3.45% of a core on SQLite and 2.75% on PostgreSQL +
  Redis (20 s each, 2026-12-08 03:55 UTC, the code before the wake-ups): the runner looked at its
  queue every 0.25 s (five to eleven queries a look) and the outbox relay read the outbox every
  0.1 s. Both now sleep until a commit wakes them (`orchestra_site/wakeups.py`; section 11): 0.42%
  and 0.47% over 60 s. What is left, by thread: the event loop about 0.2% (uvicorn's tick ten times
  a second, the collection schedule's look twice a second, Redis's blocking read), the runner 0.1
  to 0.2% (a reaping tick every 5 s, two queries; a full look every `ORCHESTRA_WAKEUP_TIMEOUT`;
  its stop flag once a second), the heartbeat's write every 5 s. psycopg's `notifies()` waits in
  0.1 s slices (to stay interruptible), which cost the PostgreSQL listener 0.08% on its own: it
  waits on its socket with `select()` instead. Without the runner (`--no-runner`) an idle serve
  used 0.20% (SQLite) and 0.23% (PostgreSQL + Redis).
- **Queries.** A desired change, a running report, a reserved or released slot and a node
  creation (with its parents) are each at most five queries on both databases (`BEGIN` and `COMMIT` included), with
  one outbox INSERT per change on the in-memory layer; a desired change on PostgreSQL is four.
  Asserted in the query-budget tests.
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
