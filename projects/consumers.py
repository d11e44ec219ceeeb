"""``/projects/{pid}/subscribe``: the project's node and run events."""

from __future__ import annotations

from channels.db import database_sync_to_async

from orchestra_site.realtime.consumers import HubConsumer
from orchestra_site.realtime.events import project_group
from projects.models import Project


class ProjectConsumer(HubConsumer):
    """Joins the project's group; the client sends nothing, and anything it sends is discarded."""

    async def connect(self) -> None:
        project_id = int(self.scope["url_route"]["kwargs"]["pid"])
        if not await self._project_exists(project_id):
            # Before accept: the handshake is refused, as the desktop app expects.
            await self.close(code=4004, reason="Project not found")
            return
        # Join before accepting, so no event sent after the handshake can be missed.
        await self.join(project_group(project_id))
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return None

    @database_sync_to_async
    def _project_exists(self, project_id: int) -> bool:
        return Project.objects.filter(pk=project_id).exists()
