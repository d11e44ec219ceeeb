"""``WriteThroughServer``: Twisted connections that send at once, with real sockets and reactor.

Twisted's reactor can be installed once per process, so the server runs in a child process: it
listens, and on each connection writes what the test asks for. The test reads with plain sockets.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from tests.hub_processes import ROOT

SERVER = textwrap.dedent(
    """
    import sys
    from twisted.internet import asyncioreactor
    asyncioreactor.install()
    from twisted.internet import protocol, reactor
    from orchestra_site.realtime.write_through import WriteThroughServer, install

    install()
    CHUNK, CHUNKS = 64 * 1024, int(sys.argv[1])
    connections = []

    class Writer(protocol.Protocol):
        def connectionMade(self):
            assert isinstance(self.transport, WriteThroughServer), type(self.transport)
            connections.append(self)
            print("accepted", len(connections), flush=True)

        def dataReceived(self, data):
            if data == b"go":
                # All in one turn of the loop, as a fan-out does: many small writes to every
                # connection, then large ones that no socket buffer takes whole.
                for n in range(1000):
                    for c in connections:
                        c.transport.write(b"%06d;" % n)
                for n in range(CHUNKS):
                    for c in connections:
                        c.transport.write(bytes([n % 251]) * CHUNK)
                for c in connections:
                    c.transport.write(b"END")

    factory = protocol.Factory.forProtocol(Writer)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()
    """
)


@contextmanager
def twisted_server(chunks: int) -> Iterator[tuple[int, IO[str]]]:
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(chunks)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline()), process.stdout
    finally:
        process.kill()
        process.wait()


def process_lines(stdout: IO[str], count: int) -> list[str]:
    return [stdout.readline().strip() for _ in range(count)]


def read_until_end(sock: socket.socket, deadline: float) -> bytes:
    data = bytearray()
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    while not data.endswith(b"END"):
        part = sock.recv(1 << 20)
        assert part, "connection closed before the end"
        data += part
    return bytes(data)


def test_bytes_arrive_whole_and_in_order_and_a_stalled_or_closed_peer_holds_nobody_up() -> None:
    chunks = 256  # 16 MiB per connection: more than the socket buffers take, so writes are partial
    expected = b"".join(b"%06d;" % n for n in range(1000))
    expected += b"".join(bytes([n % 251]) * 64 * 1024 for n in range(chunks)) + b"END"
    with twisted_server(chunks) as (port, stdout):
        reader = socket.create_connection(("127.0.0.1", port))
        stalled = socket.create_connection(("127.0.0.1", port))
        closed = socket.create_connection(("127.0.0.1", port))
        closed.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        assert process_lines(stdout, 3) == ["accepted 1", "accepted 2", "accepted 3"]
        closed.close()  # a reset: the server's writes to it fail
        reader.sendall(b"go")
        deadline = time.monotonic() + 30
        assert read_until_end(reader, deadline) == expected  # while the stalled one reads nothing
        assert read_until_end(stalled, deadline) == expected  # and it gets it all once it reads
        reader.close()
        stalled.close()
