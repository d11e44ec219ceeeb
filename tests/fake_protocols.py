"""Wire formats spoken by ``tests.fake_model_server`` (one section per provider).

The ``*_events`` generators yield ``(sse_event_name, data)`` pairs; a ``(None, None)``
pair is a pause marker: the server sleeps ``chunk_delay`` there (before each delta).
``cfg`` is the ``FakeModelServer`` (``text``, ``pieces()``, ``input_tokens``,
``output_tokens``, ``model``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

Event = tuple[str | None, dict[str, Any] | None]
PAUSE: Event = (None, None)


def is_generation(path: str) -> bool:
    path = path.split("?", 1)[0]
    return (
        (path.endswith("/messages") and "count_tokens" not in path)
        or path.endswith("/responses")
        or "GenerateContent" in path
        or ":generateContent" in path
    )


def user_texts(body: Any) -> list[str]:
    """User-typed texts from an Anthropic, OpenAI Responses or Gemini request body."""
    if not isinstance(body, dict):
        return []
    out: list[str] = []

    def collect(content: Any) -> None:
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    out.append(part["text"])

    for msg in body.get("messages") or []:  # Anthropic
        if isinstance(msg, dict) and msg.get("role") == "user":
            collect(msg.get("content"))
    inp = body.get("input")  # OpenAI Responses
    if isinstance(inp, str):
        out.append(inp)
    for item in inp if isinstance(inp, list) else []:
        if isinstance(item, dict) and item.get("role") == "user":
            collect(item.get("content"))
    for msg in body.get("contents") or []:  # Gemini
        if isinstance(msg, dict) and msg.get("role", "user") == "user":
            collect(msg.get("parts"))
    return out


def model_list(model: str) -> dict[str, Any]:
    # Shaped to satisfy both OpenAI (`data`) and Gemini (`models`) listings.
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": 0, "owned_by": "fake"}],
        "models": [{"name": f"models/{model}", "displayName": model}],
    }


# --- Anthropic Messages API -------------------------------------------------------------


def _anthropic_usage(cfg: Any) -> dict[str, int]:
    return {
        "input_tokens": cfg.input_tokens,
        "output_tokens": cfg.output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def anthropic_message(cfg: Any, req: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": req.get("model") or cfg.model,
        "content": [{"type": "text", "text": cfg.text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(cfg),
    }


def anthropic_events(cfg: Any, req: dict[str, Any]) -> Iterator[Event]:
    start = anthropic_message(cfg, req)
    start.update(content=[], stop_reason=None)
    start["usage"] = dict(_anthropic_usage(cfg), output_tokens=1)
    yield "message_start", {"type": "message_start", "message": start}
    yield (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        },
    )
    for piece in cfg.pieces():
        yield PAUSE
        yield (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
        )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": _anthropic_usage(cfg),
        },
    )
    yield "message_stop", {"type": "message_stop"}


# --- OpenAI Responses API ---------------------------------------------------------------


def openai_events(cfg: Any, req: dict[str, Any]) -> Iterator[Event]:
    resp_id, item_id = f"resp_{uuid.uuid4().hex[:16]}", f"msg_{uuid.uuid4().hex[:16]}"
    seq = iter(range(10**9))
    response = {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": req.get("model") or cfg.model,
        "output": [],
    }

    def ev(kind: str, **fields: Any) -> Event:
        return kind, {"type": kind, "sequence_number": next(seq), **fields}

    part = {"type": "output_text", "text": "", "annotations": []}
    item = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    yield ev("response.created", response=response)
    yield ev("response.in_progress", response=response)
    yield ev("response.output_item.added", output_index=0, item=item)
    yield ev("response.content_part.added", item_id=item_id, output_index=0, content_index=0, part=part)
    for piece in cfg.pieces():
        yield PAUSE
        yield ev("response.output_text.delta", item_id=item_id, output_index=0, content_index=0, delta=piece)
    done_part = dict(part, text=cfg.text)
    done_item = dict(item, status="completed", content=[done_part])
    yield ev("response.output_text.done", item_id=item_id, output_index=0, content_index=0, text=cfg.text)
    yield ev("response.content_part.done", item_id=item_id, output_index=0, content_index=0, part=done_part)
    yield ev("response.output_item.done", output_index=0, item=done_item)
    usage = {
        "input_tokens": cfg.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": cfg.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": cfg.input_tokens + cfg.output_tokens,
    }
    yield ev("response.completed", response=dict(response, status="completed", output=[done_item], usage=usage))


# --- Gemini generateContent API ---------------------------------------------------------


def _gemini_model(path: str, cfg: Any) -> str:
    tail = path.rsplit("/models/", 1)[-1]
    return tail.split(":", 1)[0] or cfg.model


def _gemini_chunk(cfg: Any, model: str, text: str, final: bool) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    chunk: dict[str, Any] = {"candidates": [cand], "modelVersion": model}
    if final:
        cand["finishReason"] = "STOP"
        chunk["usageMetadata"] = {
            "promptTokenCount": cfg.input_tokens,
            "candidatesTokenCount": cfg.output_tokens,
            "totalTokenCount": cfg.input_tokens + cfg.output_tokens,
        }
    return chunk


def gemini_events(cfg: Any, path: str) -> Iterator[Event]:
    model, pieces = _gemini_model(path, cfg), cfg.pieces()
    for i, piece in enumerate(pieces):
        yield PAUSE
        yield None, _gemini_chunk(cfg, model, piece, final=i == len(pieces) - 1)


def gemini_response(cfg: Any, path: str, req: dict[str, Any]) -> dict[str, Any]:
    # Helper calls (e.g. the `auto` model router) ask for JSON matching a schema: obey it.
    gen: dict[str, Any] = req["generationConfig"] if isinstance(req.get("generationConfig"), dict) else {}
    schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
    text = json.dumps(sample_for_schema(schema)) if isinstance(schema, dict) else cfg.text
    return _gemini_chunk(cfg, _gemini_model(path, cfg), text, final=True)


def sample_for_schema(schema: dict[str, Any]) -> Any:
    """A minimal value that satisfies a (Gemini/OpenAPI-style) JSON schema."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: sample_for_schema(v) for k, v in props.items() if isinstance(v, dict)}
    if kind == "array":
        items = schema.get("items")
        return [sample_for_schema(items)] if isinstance(items, dict) else []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return "fake"
