"""A tool call in each provider's answer comes back as ``tool_calls: [{name, arguments}]``."""

from __future__ import annotations

import json

import pytest

from promptforge.providers.base import CallOutcome
from promptforge.providers.registry import get_adapter

ANSWERS = {
    "openai": {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q": "ocean"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
    },
    "anthropic": {
        "content": [
            {"type": "text", "text": "Looking it up."},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "ocean"}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 3},
    },
    "gemini": {
        "candidates": [
            {
                "content": {
                    "parts": [{"functionCall": {"name": "lookup", "args": {"q": "ocean"}}}]
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3},
    },
}


@pytest.mark.parametrize("provider", sorted(ANSWERS))
def test_a_tool_call_is_read_back(provider: str) -> None:
    body = json.dumps(ANSWERS[provider]).encode()
    result = get_adapter(provider).parse_response(200, {}, body)
    assert result.outcome is CallOutcome.SUCCESS, result
    assert result.tool_calls == ({"name": "lookup", "arguments": {"q": "ocean"}},)
