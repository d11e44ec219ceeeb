"""What the agent benchmarks share: a hub running custom agents, a project, a template, launches."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.client import HttpConnection

ROOT = Path(__file__).resolve().parent.parent
FAKE_AGENT = ROOT / "bench" / "fake_agent.py"
CHATTY_AGENT = ROOT / "bench" / "chatty_agent.py"
FINISHED = ("completed", "failed", "cancelled", "discarded")


def custom_command(script: Path) -> str:
    """``ORCHESTRA_CUSTOM_AGENT_COMMAND``: this Python running ``script`` with the prompt as argument."""
    return f"{sys.executable},{script},{{prompt}}"


def stamp(value: str) -> float:
    """An ISO time from the API as a Unix timestamp."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class AgentProject:
    """A project with one node and a one-step ``custom`` template whose prompt is ``prompt``."""

    def __init__(self, http: HttpConnection) -> None:
        self.http = http
        self.pid = self.nid = self.tid = 0
        self.workspace = ""

    async def create(self, prompt: str) -> AgentProject:
        project = await self.http.json("POST", "/projects", {"name": f"bench agents {time.monotonic_ns()}"}, expect=201)
        assert isinstance(project, dict)
        self.pid, self.workspace = int(project["id"]), str(project["workspace_path"])
        node = await self.http.json("POST", f"/projects/{self.pid}/nodes", {"title": "bench"}, expect=201)
        assert isinstance(node, dict)
        self.nid = int(node["id"])
        body = {
            "name": f"bench {time.monotonic_ns()}",
            "metadata": {},
            "edges": [],
            "steps": [{"name": "agent", "agent_type": "custom", "prompt_template": prompt}],
        }
        template = await self.http.json("POST", "/agent-templates", body, expect=201)
        assert isinstance(template, dict)
        self.tid = int(template["id"])
        return self

    async def launch(self, http: HttpConnection | None = None) -> dict[str, Any]:
        path = f"/projects/{self.pid}/nodes/{self.nid}/launch"
        execution = await (http or self.http).json("POST", path, {"template_id": self.tid}, expect=201)
        assert isinstance(execution, dict)
        return execution

    async def execution(self, eid: int) -> dict[str, Any]:
        data = await self.http.json("GET", f"/projects/{self.pid}/executions/{eid}", expect=200)
        assert isinstance(data, dict)
        return data

    async def wait_finished(self, eid: int, timeout: float = 120, every: float = 0.02) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = await self.execution(eid)
            if execution["status"] in FINISHED:
                return execution
            await asyncio.sleep(every)
        raise TimeoutError(f"execution {eid} did not finish in {timeout}s")

    async def log(self, eid: int) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        after = 0
        while True:
            # limit=500: with limit=1000 the hub answers has_more=false after the first page
            page = await self.http.json(
                "GET", f"/projects/{self.pid}/executions/{eid}/log?after={after}&limit=500", expect=200
            )
            assert isinstance(page, dict)
            entries += page["entries"]
            after = page["next_after"]
            if not page["has_more"]:
                return entries
