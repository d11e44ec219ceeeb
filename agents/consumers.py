"""``/projects/{pid}/executions/{eid}/terminal``: the stored output, then the live output."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async

from agents.models import Execution
from agents.selectors import log_entries, terminal_frame
from orchestra_site.realtime.consumers import HubConsumer
from orchestra_site.realtime.events import Frame, execution_group

# The stored log is sent page by page, each read once the previous one is sent: the first page is
# small so a long log starts at once, the next ones grow (up to REPLAY_MAX_PAGE entries) while
# their entries average under REPLAY_PAGE_BYTES per page, so a log of huge lines is never read
# into memory more than a few entries at a time.
REPLAY_FIRST_PAGE = 4
REPLAY_GROWTH = 4
REPLAY_MAX_PAGE = 500
REPLAY_PAGE_BYTES = 1024 * 1024
# Live frames held back while the socket is busy (a replay, a slow client) beyond this many bytes
# are dropped: they are stored, and the socket reads them from the database when it is free.
HELD_BYTES_MAX = 4 * 1024 * 1024


class TerminalConsumer(HubConsumer):
    """Joins the execution's group *before* reading the stored log, then drops live frames whose
    ``seq`` the replay already sent: no gap, no duplicate, whenever the client connects. ``delta``
    frames carry no ``seq``: they pass as they come (a late socket gets only the deltas still to
    come, then the whole message, which is stored)."""

    replayed_up_to = 0
    replayed_by_step: dict[int | None, int]  # the last seq each step run's replayed entries reached
    missed_up_to = 0  # the largest seq of a live frame dropped while the socket was busy
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
        self.replayed_by_step = {}
        async with self.holding_frames():
            await self.join(execution_group(execution.pk))
            await self.replay()
        if not execution.queued and not execution.is_finished:
            await self.send_json(
                {"type": "info", "message": "This execution was created without a launch: no agent will stream here."}
            )

    async def replay(self) -> None:
        """Send the stored entries after ``replayed_up_to``, a page at a time, until none is left."""
        limit = REPLAY_FIRST_PAGE
        while True:
            entries = await database_sync_to_async(log_entries)(
                execution_id=self.execution_id, after=self.replayed_up_to, limit=limit
            )
            if not entries:
                return
            sent = 0
            for entry in entries:
                text = await self.encode_json(terminal_frame(entry))
                sent += len(text)
                await self.send(text_data=text)
                self.replayed_up_to = entry.seq
                self.replayed_by_step[entry.step_run_id] = entry.seq
            average = max(sent // len(entries), 1)
            limit = max(1, min(REPLAY_MAX_PAGE, limit * REPLAY_GROWTH, REPLAY_PAGE_BYTES // average))

    def deliver_frames(self, group: str, frames: list[Frame]) -> None:
        """Hold live frames while busy only up to ``HELD_BYTES_MAX``; past it they are dropped and
        read back from the database once the socket is free (``release``)."""
        if self.busy:
            held = sum(len(text) for _, batch in self.pending for text, _ in batch)
            if held + sum(len(text) for text, _ in frames) > HELD_BYTES_MAX:
                seqs = [seq for _, seq in frames if seq is not None]
                self.missed_up_to = max([self.missed_up_to, *seqs])
                return
        super().deliver_frames(group, frames)

    def deliver_batches(self, batches: list[tuple[str, list[Frame]]]) -> None:
        for group, frames in batches:  # each through the bound on what is held
            self.deliver_frames(group, frames)

    async def send_batches(self, batches: list[tuple[str, list[Frame]]]) -> None:
        for group, frames in batches:  # each through the gap check
            await self.send_frames(group, frames)

    async def release(self) -> None:
        await super().release()
        if not self.busy and self.missed_up_to > self.replayed_up_to:
            async with self.holding_frames():
                await self.replay()

    async def send_frames(self, group: str, frames: list[Frame]) -> None:
        """Send what follows what the socket has. On a gap (a frame lost, or overtaken by one from
        another runner) read the missing entries from the database rather than skip them; the hub's
        fan-out does not wait for that read (``FrameSubscriber.deliver_frames``)."""
        for text, seq in frames:
            if seq is None:  # a delta (``agents.deltas``): live only, never stored nor replayed
                if not self.stale_delta(text):
                    await self.send(text_data=text)
                continue
            if seq <= self.replayed_up_to:
                continue
            if seq != self.replayed_up_to + 1:
                await self.replay()
                if seq <= self.replayed_up_to:
                    continue
            await self.send(text_data=text)
            self.replayed_up_to = seq

    def stale_delta(self, text: str) -> bool:
        """A delta held back while a replay sent its step's later frames (its whole message) already."""
        if not self.replayed_by_step:
            return False
        frame = json.loads(text)
        return self.replayed_by_step.get(frame.get("step_run_id"), 0) > int(frame.get("after") or 0)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The client sends nothing today; there is no terminal to type into, so frames are dropped."""

    @database_sync_to_async
    def find_execution(self, project_id: int, execution_id: int) -> Execution | None:
        return Execution.objects.filter(pk=execution_id, project_id=project_id).first()
