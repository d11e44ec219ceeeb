"""Optional tool-call turn for ``tests.fake_model_server`` (``tool_command="echo hi"``).

When a server has ``tool_command`` set, the first completion request that offers a shell
tool and does not yet carry a tool result is answered with a call of that shell tool
running ``tool_command``; the follow-up request (which carries the result) gets the
normal text reply.  Shell tools: claude ``Bash``, codex ``exec_command`` / ``shell_command``
/ ``shell``, gemini ``run_shell_command`` (only offered with ``--approval-mode=yolo``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

Event = tuple[str | None, dict[str, Any] | None]
SHELL_ARGS = {
    "Bash": lambda cmd: {"command": cmd, "description": "fake tool call"},
    "exec_command": lambda cmd: {"cmd": cmd},
    "shell_command": lambda cmd: {"command": cmd},
    "shell": lambda cmd: {"command": ["bash", "-lc", cmd]},
    "run_shell_command": lambda cmd: {"command": cmd},
}


def _tool_names(req: dict[str, Any]) -> list[str]:
    names = []
    for tool in req.get("tools") or []:
        if isinstance(tool, dict):
            names.append(str(tool.get("name") or ""))
            names += [str(fd.get("name")) for fd in tool.get("functionDeclarations") or []]
    return names


def _has_tool_result(req: dict[str, Any]) -> bool:
    text = json.dumps(req)
    return any(marker in text for marker in ('"tool_result"', '"function_call_output"', '"functionResponse"'))


def pick_call(cfg: Any, req: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """``(tool_name, arguments)`` if this request should get a tool call, else None."""
    if not getattr(cfg, "tool_command", None) or _has_tool_result(req):
        return None
    for name in _tool_names(req):
        if name in SHELL_ARGS:
            return name, SHELL_ARGS[name](cfg.tool_command)
    return None


def anthropic_tool_events(cfg: Any, req: dict[str, Any], name: str, args: dict[str, Any]) -> Iterator[Event]:
    usage = {"input_tokens": cfg.input_tokens, "output_tokens": cfg.output_tokens}
    yield (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_tool",
                "type": "message",
                "role": "assistant",
                "model": req.get("model"),
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        },
    )
    yield (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_fake1", "name": name, "input": {}},
        },
    )
    yield (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": json.dumps(args)},
        },
    )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}, "usage": usage},
    )
    yield "message_stop", {"type": "message_stop"}


def openai_tool_events(cfg: Any, req: dict[str, Any], name: str, args: dict[str, Any]) -> Iterator[Event]:
    item = {
        "id": "fc_fake1",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_fake1",
        "name": name,
        "arguments": json.dumps(args),
    }
    response: dict[str, Any] = {
        "id": "resp_tool",
        "object": "response",
        "status": "in_progress",
        "model": req.get("model"),
        "output": [],
    }
    yield "response.created", {"type": "response.created", "response": response}
    yield (
        "response.output_item.added",
        {"type": "response.output_item.added", "output_index": 0, "item": dict(item, arguments="")},
    )
    yield (
        "response.function_call_arguments.done",
        {
            "type": "response.function_call_arguments.done",
            "item_id": item["id"],
            "output_index": 0,
            "arguments": item["arguments"],
        },
    )
    yield "response.output_item.done", {"type": "response.output_item.done", "output_index": 0, "item": item}
    usage = {
        "input_tokens": cfg.input_tokens,
        "output_tokens": cfg.output_tokens,
        "total_tokens": cfg.input_tokens + cfg.output_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }
    yield (
        "response.completed",
        {"type": "response.completed", "response": dict(response, status="completed", output=[item], usage=usage)},
    )


def gemini_tool_events(cfg: Any, name: str, args: dict[str, Any]) -> Iterator[Event]:
    yield (
        None,
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"functionCall": {"name": name, "args": args}}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": cfg.input_tokens,
                "candidatesTokenCount": cfg.output_tokens,
                "totalTokenCount": cfg.input_tokens + cfg.output_tokens,
            },
        },
    )
