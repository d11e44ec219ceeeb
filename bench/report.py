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
    text = "\n\n".join([HEADER, "## Summary\n\n" + summary.markdown(), machine_md, *body]) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
