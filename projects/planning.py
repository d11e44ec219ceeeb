"""Turning a planner agent's answer into the plan draft of contract

``run_planner`` is the seam: the agents app registers a real agent call (``register_planner``) that
gets ``planner_prompt(...)`` and returns the model's text; with none registered it answers 503. Whatever the
model answers goes through ``parse_plan_json``, which only lets a well-formed DAG through.

A plan runs its agent for seconds to minutes, on a thread of its own (the hub's HTTP handler runs
plan requests in a lane apart from the threads every other request uses: ``orchestra_site.
asgi_handler``). ``plan_slots`` keeps plans to ``ORCHESTRA_PLAN_CONCURRENCY`` at once and answers
429 with ``Retry-After`` beyond it at once.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypedDict

from django.conf import settings

from orchestra_site.api.exceptions import ServiceUnavailable, TooBusy
from projects.dag import depths
from projects.models import TITLE_MAX, NodeStatus


class ResourceData(TypedDict):
    """A resource the client attached to its request (``ResourceInputSerializer``)."""

    kind: str
    title: str
    url: str | None
    notes: str | None


MAX_DRAFTS = 100
COLUMN_WIDTH = 280.0
ROW_HEIGHT = 160.0

PLANNER_PROMPT = """You are planning a software project as a graph of tasks for coding agents.

Break the goal below into between 2 and 12 concrete steps. Each step must be small enough for one
agent session and must say what "done" means. A step depends on another when it needs that
step's result; steps that do not depend on each other may run in parallel.

Answer with ONLY one JSON object, no prose and no code fence, in exactly this shape:
{{"nodes": [{{"title": "short imperative title", "description": "what to do and what done means"}}],
  "edges": [{{"source_index": 0, "target_index": 1}}]}}
"nodes" is the list of steps. Each edge says the step at source_index (zero-based, in "nodes")
must finish before the step at target_index starts. Edges must not form a cycle.

Goal:
{prompt}

Resources the user attached:
{resources}
"""


class NodeDraft(TypedDict):
    title: str
    description: str | None
    status: str
    position_x: float
    position_y: float


class EdgeDraft(TypedDict):
    source_index: int
    target_index: int


class PlanData(TypedDict):
    nodes: list[NodeDraft]
    edges: list[EdgeDraft]


class PlanError(ValueError):
    """The planner's answer is not a usable plan; the message says why."""


def planner_prompt(prompt: str, resources: list[ResourceData]) -> str:
    lines = []
    for resource in resources:
        line = f"- [{resource['kind']}] {resource['title']}"
        if resource.get("url"):
            line += f" <{resource['url']}>"
        if resource.get("notes"):
            line += f": {resource['notes']}"
        lines.append(line)
    return PLANNER_PROMPT.format(prompt=prompt, resources="\n".join(lines) or "(none)")


_planner: Callable[[str], str] | None = None


def register_planner(planner: Callable[[str], str]) -> None:
    """The agents app registers the function that runs a planner agent on a prompt (``apps.ready``)."""
    global _planner
    _planner = planner


PLAN_RETRY_AFTER = 10  # seconds: a plan's agent usually answers within tens of seconds


class PlanSlots:
    """How many plans this process runs at once, at most ``settings.PLAN_CONCURRENCY`` (read on
    every plan, so a test's settings apply)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0

    @contextmanager
    def take(self) -> Iterator[None]:
        with self._lock:
            limit = settings.PLAN_CONCURRENCY
            if self.running >= limit:
                raise TooBusy(
                    f"{self.running} plans are already running, the most this hub runs at once "
                    f"(ORCHESTRA_PLAN_CONCURRENCY={limit}); try again in {PLAN_RETRY_AFTER}s.",
                    retry_after=PLAN_RETRY_AFTER,
                )
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1


plan_slots = PlanSlots()


def run_planner(prompt: str, resources: list[ResourceData]) -> str:
    """Run the planner agent on ``planner_prompt(prompt, resources)`` and return its text answer,
    or ``TooBusy`` (429) when as many plans as allowed are running already."""
    if _planner is not None:
        with plan_slots.take():
            return _planner(planner_prompt(prompt, resources))
    raise ServiceUnavailable(
        "No planner agent can run: the hub has no agent runner wired for planning "
        f"(ORCHESTRA_PLANNER_AGENT={settings.PLANNER_AGENT})."
    )


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _json_object(text: str) -> Any:
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise PlanError("no JSON object in the answer")
    try:
        return json.loads(body[start : end + 1])
    except ValueError as exc:
        raise PlanError(f"invalid JSON ({exc})") from None


def _draft(index: int, raw: Any) -> tuple[str, str | None]:
    if not isinstance(raw, dict):
        raise PlanError(f"nodes[{index}] is not an object")
    title, description = raw.get("title"), raw.get("description")
    if not isinstance(title, str) or not title.strip():
        raise PlanError(f"nodes[{index}].title must be a non-empty string")
    if description is not None and not isinstance(description, str):
        raise PlanError(f"nodes[{index}].description must be a string")
    return title.strip()[:TITLE_MAX], description


def _edge(index: int, raw: Any, count: int) -> tuple[int, int]:
    if not isinstance(raw, dict):
        raise PlanError(f"edges[{index}] is not an object")
    pair: list[int] = []
    for value in (raw.get("source_index"), raw.get("target_index")):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
            raise PlanError(f"edges[{index}] references an unknown node index")
        pair.append(value)
    if pair[0] == pair[1]:
        raise PlanError(f"edges[{index}] links a node to itself")
    return pair[0], pair[1]


def parse_plan_json(text: str) -> PlanData:
    """Validate a planner's JSON answer and lay the drafts out by depth (roots on top).

    Raises ``PlanError`` for anything the client could not apply: no nodes, a node without a
    title, an edge index out of range, a self-edge, or a cycle. Duplicate edges are merged.
    """
    data = _json_object(text)
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list) or not data["nodes"]:
        raise PlanError('the answer needs a non-empty "nodes" list')
    if len(data["nodes"]) > MAX_DRAFTS:
        raise PlanError(f"more than {MAX_DRAFTS} nodes")
    drafts = [_draft(index, raw) for index, raw in enumerate(data["nodes"])]
    raw_edges = data.get("edges")
    raw_edges = [] if raw_edges is None else raw_edges
    if not isinstance(raw_edges, list):
        raise PlanError('"edges" must be a list')
    pairs = list(dict.fromkeys(_edge(index, raw, len(drafts)) for index, raw in enumerate(raw_edges)))
    levels = depths(len(drafts), pairs)
    if levels is None:
        raise PlanError("the edges form a cycle")
    column: dict[int, int] = {}
    nodes: list[NodeDraft] = []
    for (title, description), depth in zip(drafts, levels, strict=True):
        position = column.get(depth, 0)
        column[depth] = position + 1
        nodes.append(
            {
                "title": title,
                "description": description,
                "status": NodeStatus.PENDING.value,
                "position_x": position * COLUMN_WIDTH,
                "position_y": depth * ROW_HEIGHT,
            }
        )
    return {"nodes": nodes, "edges": [{"source_index": s, "target_index": t} for s, t in pairs]}
