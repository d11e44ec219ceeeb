"""A lean WebSocket client for the benchmarks that hold 1000 (or 10 000) sockets in one process.

The ``websockets`` library costs its process more per frame than the hub spends sending it: a
parser generator, an assembler queue and a task wake-up per message, and asyncio's default read
path allocates a 256 KiB buffer for every ``recv()``. Here each socket is an
``asyncio.BufferedProtocol`` that reads into a small buffer it owns and parses RFC 6455 frames
itself; a text message goes straight to a callback. Frames are parsed completely (lengths,
opcodes, fragments, pings, close) and text is handed over whole, so a message counts as received
only once all of its bytes are in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from collections import deque
from collections.abc import Callable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
READ_SIZE = 16 * 1024

OnMessage = Callable[[bytes], None]


class HandshakeError(ConnectionError):
    pass


class LeanWebSocket(asyncio.BufferedProtocol):
    """One client socket. Before ``on_message`` is set, text messages queue for ``recv()``."""

    def __init__(self, host: str, path: str, read_size: int = READ_SIZE) -> None:
        self.host, self.path = host, path
        self.buffer = bytearray(read_size)
        self.view = memoryview(self.buffer)
        self.pending = bytearray()
        self.fragments: list[bytes] = []
        self.key = base64.b64encode(os.urandom(16))
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queued: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.on_message: OnMessage | None = None
        self.close_code: int | None = None

    # asyncio.BufferedProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.pending += self.view[:nbytes]
        if not self.upgraded and not self._read_handshake():
            return
        self._read_frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost during the handshake: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake()

    # The handshake and the frames

    def _read_handshake(self) -> bool:
        end = self.pending.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.pending[:end]).decode("latin1")
        del self.pending[: end + 4]
        status, *lines = head.split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        accept = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
        if status.split(" ")[1:2] != ["101"] or headers.get("sec-websocket-accept") != accept:
            self.opened.set_exception(HandshakeError(f"refused: {status}"))
            assert self.transport is not None
            self.transport.close()
            return False
        self.upgraded = True
        self.opened.set_result(None)
        return True

    def _read_frames(self) -> None:
        data = self.pending
        while len(data) >= 2:
            first, second = data[0], data[1]
            if second & 0x80:
                raise ValueError("a server frame must not be masked")
            length, start = second & 0x7F, 2
            if length == 126:
                if len(data) < 4:
                    return
                (length,), start = struct.unpack_from("!H", data, 2), 4
            elif length == 127:
                if len(data) < 10:
                    return
                (length,), start = struct.unpack_from("!Q", data, 2), 10
            if len(data) < start + length:
                return
            payload = bytes(data[start : start + length])
            del data[: start + length]
            self._frame(first & 0x80, first & 0x0F, payload)

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self._send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close_code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
            if self.transport is not None and not self.transport.is_closing():
                self._send(OP_CLOSE, payload[:2])
                self.transport.close()
        elif opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            self.fragments.append(payload)
            if fin:
                message = self.fragments[0] if len(self.fragments) == 1 else b"".join(self.fragments)
                self.fragments = []
                if self.on_message is not None:
                    self.on_message(message)
                else:
                    self.queued.append(message)
                    self._wake()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(head + mask + masked)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # What the benchmarks call

    def send_text(self, text: str) -> None:
        self._send(OP_TEXT, text.encode())

    async def recv(self) -> bytes:
        """The next text message (only while ``on_message`` is unset)."""
        while not self.queued:
            if self.closed.done():
                raise ConnectionError(f"closed ({self.close_code})")
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.queued.popleft()

    async def close(self, timeout: float = 5.0) -> None:
        if self.transport is None:
            return
        if not self.transport.is_closing():
            self._send(OP_CLOSE, struct.pack("!H", 1000))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.transport.abort()


async def connect(host: str, port: int, path: str, *, read_size: int = READ_SIZE, timeout: float = 60) -> LeanWebSocket:
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(lambda: LeanWebSocket(f"{host}:{port}", path, read_size), host, port), timeout
    )
    # A handshake that fails after the wait gave up is not worth an "exception never retrieved".
    protocol.opened.add_done_callback(lambda opened: opened.cancelled() or opened.exception())
    try:
        await asyncio.wait_for(asyncio.shield(protocol.opened), timeout)
    except BaseException:
        if protocol.transport is not None:
            protocol.transport.abort()
        raise
    return protocol
