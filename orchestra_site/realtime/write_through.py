"""Twisted TCP connections that write at once when nothing is queued, as asyncio's transports do.

daphne runs on Twisted, whose ``FileDescriptor.write`` only appends to a buffer and asks the
reactor to watch the socket for writability; the bytes leave on a later turn of the loop, from a
``doWrite`` callback that stops the watch again. For a frame fanned out to 1000 sockets that is
1000 buffers, 2000 ``epoll_ctl`` calls and 1000 more callbacks before the first byte moves: the
largest part of a fan-out's time in the profile. Here a write tries ``send()`` first; only what the
kernel does not take is buffered, and Twisted's own path then sends it and reports any error.

Order is kept: the direct send happens only while nothing written before is still buffered.
"""

from __future__ import annotations

from twisted.internet import tcp


class WriteThroughServer(tcp.Server):
    def write(self, data: bytes) -> None:
        if (
            data
            and isinstance(data, bytes)
            and not self.TLS
            and self.connected
            and not self.disconnecting
            and not self._writeDisconnected
            and not self._tempDataLen
            and self.offset == len(self.dataBuffer)
        ):
            try:
                sent = self.socket.send(data)
            except OSError:  # would block, or a broken connection that Twisted's doWrite reports
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        super().write(data)


def install() -> None:
    """Accepted TCP connections of this process use ``WriteThroughServer`` (call before listening)."""
    tcp.Port.transport = WriteThroughServer
