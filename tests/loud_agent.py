"""A stand-in agent (``agent_type: custom``) that prints too much: the hub's output limits meet it.

Usage: ``python loud_agent.py PROMPT``. ``line BYTES`` prints one line of BYTES ``x`` (written in
pieces, as a CLI streaming a huge JSON event does), then ``after the long line``; ``flood`` prints
64 KiB lines until it is stopped; ``lines COUNT BYTES`` prints COUNT lines of BYTES characters;
``tiny COUNT`` prints COUNT one-character lines and as many blank ones on stderr; ``odd`` prints a
line with a NUL and bytes that are not UTF-8, then a JSON-escaped NUL and lone surrogate.
"""

from __future__ import annotations

import sys

words = sys.argv[1].split()
out = sys.stdout.buffer
if words[0] == "line":
    left = int(words[1])
    while left:
        piece = min(left, 1 << 20)
        out.write(b"x" * piece)
        left -= piece
    out.write(b"\nafter the long line\n")
elif words[0] == "flood":
    chunk = b"y" * 65535 + b"\n"
    while True:
        out.write(chunk)
        out.flush()
elif words[0] == "lines":
    count, size = int(words[1]), int(words[2])
    for i in range(count):
        out.write(f"{i:08d} ".encode() + b"z" * (size - 10) + b"\n")
elif words[0] == "tiny":
    for _ in range(int(words[1])):
        out.write(b"a\n")
        sys.stderr.buffer.write(b"\n")
elif words[0] == "odd":
    out.write(b"before\x00after \xff\xfe not utf-8\n")
    out.write(b'{"text": "nul \\u0000 and \\ud800 lone"}\n')
out.flush()
