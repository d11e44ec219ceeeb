"""Reading the agents' answers: research sources, the synthesis sections, a critic's vote.

Pure functions over text. Synthesis sections end only at the next line that opens one of the four
known headings (a ``### Step 1`` inside the final plan stays in it), and a critic's vote is the last
line that *starts* with ``VOTE:``, so a critic that echoes the prompt's ``VOTE: YES or NO`` line is
not counted as a YES.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

SYNTHESIS_HEADINGS = {
    "Agreements": "agreements",
    "Conflicts": "conflicts",
    "Questions for Human": "questions",
    "Final Plan": "final_plan",
}
_HEADING = re.compile(r"^##[ \t]+(" + "|".join(map(re.escape, SYNTHESIS_HEADINGS)) + r")[ \t]*:?[ \t]*$")
_LIST_ITEM = re.compile(r"^(?:[-*]|\d+[.)])\s+(.*\S)")
_SOURCE = re.compile(r"^###\s+\[([^\]]*)\]\(([^)\s]*)\)")
_FIELD = re.compile(r"^\s*(VOTE|SEVERITY|REASONING|FEEDBACK)\s*:\s*(.*)$", re.IGNORECASE)


class Synthesis(TypedDict):
    agreements: list[str]
    conflicts: list[str]
    questions: list[str]
    final_plan: str


class CriticVerdict(TypedDict):
    vote: str | None  # YES, NO, or None: no valid vote line (an abstention)
    severity: str | None  # minor | major, only with NO
    reasoning: str
    feedback: str


def list_items(text: str) -> list[str]:
    """Lines that start with ``- ``, ``* `` or ``1. ``, without their marker."""
    return [m.group(1) for line in text.splitlines() if (m := _LIST_ITEM.match(line.strip()))]


def parse_synthesis(text: str) -> Synthesis:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        heading = _HEADING.match(line.strip())
        if heading:
            current = sections.setdefault(SYNTHESIS_HEADINGS[heading.group(1)], [])
        elif current is not None:
            current.append(line)
    body = {key: "\n".join(lines).strip() for key, lines in sections.items()}
    return {
        "agreements": list_items(body.get("agreements", "")),
        "conflicts": list_items(body.get("conflicts", "")),
        "questions": list_items(body.get("questions", "")),
        "final_plan": body.get("final_plan", ""),
    }


def _level2_sections(text: str) -> dict[str, str]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip().rstrip(":").lower(), [])
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def parse_research(text: str) -> dict[str, Any]:
    """``{search_queries, sources: [{title, url, insights}], summary, raw_output}``."""
    sections = _level2_sections(text)
    sources: list[dict[str, Any]] = []
    for line in sections.get("sources", "").splitlines():
        source = _SOURCE.match(line.strip())
        if source:
            sources.append({"title": source.group(1), "url": source.group(2), "insights": []})
        elif sources and (item := _LIST_ITEM.match(line.strip())):
            sources[-1]["insights"].append(item.group(1))
    return {
        "search_queries": list_items(sections.get("search queries", "")),
        "sources": sources,
        "summary": sections.get("summary", ""),
        "raw_output": text,
    }


def parse_critic(text: str) -> CriticVerdict:
    """The verdict of the block that starts at the last ``VOTE:`` line (case-insensitive)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().upper().startswith("VOTE:")]
    if not starts:
        return {"vote": None, "severity": None, "reasoning": "", "feedback": ""}
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[starts[-1] :]:
        field = _FIELD.match(line)
        if field:
            current = fields.setdefault(field.group(1).upper(), [])
            current.clear()
            current.append(field.group(2))
        elif current is not None:
            current.append(line)
    vote_text = " ".join(fields.get("VOTE", [])).strip().upper()
    vote = vote_text if vote_text in ("YES", "NO") else None
    severity_text = " ".join(fields.get("SEVERITY", [])).strip().lower()
    severity = None
    if vote == "NO":
        severity = "major" if severity_text.startswith("major") else "minor"
    return {
        "vote": vote,
        "severity": severity,
        "reasoning": "\n".join(fields.get("REASONING", [])).strip(),
        "feedback": "\n".join(fields.get("FEEDBACK", [])).strip(),
    }
