"""An OpenAI chat-completions answer, as the fake providers of the unit tests send it."""

from __future__ import annotations

import httpx


def chat_completion(content: str, completion_tokens: int = 2) -> httpx.Response:
    """A 200 chat completion whose one choice says ``content`` (3 prompt tokens and
    ``completion_tokens``)."""
    return httpx.Response(
        200,
        json={
            "id": "c1",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": completion_tokens,
                "total_tokens": 3 + completion_tokens,
            },
        },
    )
