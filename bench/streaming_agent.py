"""A stand-in ``claude`` for the delta benchmark: prints claude's stream-json with partial messages.

Its prompt (on stdin, as the hub sends claude's) is ``"DELTAS INTERVAL"``: it writes DELTAS text deltas INTERVAL seconds
apart, each holding the wall-clock time it was written (``"<unix time>;"``), then the whole message
and a result line, as ``claude -p --output-format=stream-json --include-partial-messages`` does.
"""

from __future__ import annotations

import json
import sys
import time


def emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    deltas, interval = sys.stdin.read().split()
    emit({"type": "system", "subtype": "init", "session_id": "bench", "model": "bench"})
    pieces = []
    for _ in range(int(deltas)):
        time.sleep(float(interval))
        piece = f"{time.time():.6f};"
        pieces.append(piece)
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
        emit({"type": "stream_event", "event": delta})
    text = "".join(pieces)
    emit({"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})
    emit({"type": "result", "subtype": "success", "is_error": False, "result": text, "total_cost_usd": 0.0})


if __name__ == "__main__":
    main()
