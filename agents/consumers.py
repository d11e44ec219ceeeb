"""``/projects/{pid}/executions/{eid}/terminal``: the stored output, then the live output."""

from __future__ import annotations

from channels.db import database_sync_to_async

from agents.models import Execution
from agents.selectors import log_entries, terminal_frame
from orchestra_site.realtime.consumers import HubConsumer
from orchestra_site.realtime.events import Frame, execution_group


class TerminalConsumer(HubConsumer):
    """Joins the execution's group *before* reading the stored log, then drops live frames whose
    ``seq`` the replay already sent: no gap, no duplicate, whenever the client connects."""

    replayed_up_to = 0
    execution_id = 0

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        execution = await self.find_execution(int(kwargs["pid"]), int(kwargs["eid"]))
        if execution is None:
            await self.close(code=4004)
            return
        await self.accept()
        await self.send_json(
            {"type": "connected", "execution_id": execution.pk, "tmux_session": execution.tmux_session}
        )
        self.execution_id = execution.pk
        async with self.holding_frames():
            await self.join(execution_group(execution.pk))
            await self.replay()
        if not execution.queued and not execution.is_finished:
            await self.send_json(
                {"type": "info", "message": "This execution was created without a launch: no agent will stream here."}
            )

    async def replay(self) -> None:
        while True:
            entries = await database_sync_to_async(log_entries)(
                execution_id=self.execution_id, after=self.replayed_up_to
            )
            for entry in entries:
                await self.send_json(terminal_frame(entry))
                self.replayed_up_to = entry.seq
            if not entries:
                return

    async def send_frames(self, group: str, frames: list[Frame]) -> None:
        """Send what follows what the socket has. On a gap (a frame lost, or overtaken by one from
        another runner) read the missing entries from the database rather than skip them; the hub's
        fan-out does not wait for that read (``FrameSubscriber.deliver_frames``)."""
        for text, seq in frames:
            if seq is None or seq <= self.replayed_up_to:
                continue
            if seq != self.replayed_up_to + 1:
                await self.replay()
                if seq <= self.replayed_up_to:
                    continue
            await self.send(text_data=text)
            self.replayed_up_to = seq

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The client sends nothing today; there is no terminal to type into, so frames are dropped."""

    @database_sync_to_async
    def find_execution(self, project_id: int, execution_id: int) -> Execution | None:
        return Execution.objects.filter(pk=execution_id, project_id=project_id).first()
