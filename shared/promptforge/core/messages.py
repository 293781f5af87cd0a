"""Chat lines: an input line's ``messages`` (OpenAI chat roles) instead of a ``prompt``.

One rule for every provider, checked once when a line is read (``core/jsonl.py``):
``messages`` is a non-empty array of ``{"role", "content"}`` objects, the role one of
``system``, ``user`` or ``assistant`` and the content a non-blank string or an array of
parts, text and (in user messages) images (``core/content.py``); system
messages come first (Anthropic and Gemini take the system text apart from the turns),
and after them the turns start and end with a ``user`` message (what Anthropic, Gemini
and Mistral all accept without a prefill flag).

A ``Prompt`` is what a prompt task carries: the text of a ``prompt`` line, or the
messages of a chat line. ``Conversation.of`` is how every adapter reads it: the system
text (the job's ``system`` option, then the line's system messages) and the turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from promptforge.core.content import (
    Content,
    ContentProblem,
    content_to_wire,
    encodable,
    parse_parts,
    parts_from_wire,
    text_of,
)

__all__ = [
    "MAX_MESSAGES",
    "ROLES",
    "ChatMessage",
    "Conversation",
    "MessagesProblem",
    "Prompt",
    "encodable",
    "messages_from_dicts",
    "parse_messages",
]

ROLES = ("system", "user", "assistant")
"""The roles a chat line may use (OpenAI's names)."""

MAX_MESSAGES = 1000
"""The most messages one line may carry."""


@dataclass(frozen=True)
class ChatMessage:
    """One message of a chat line."""

    role: str
    content: Content

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI wire form, as the task body and the chat-completions request carry it."""
        return {"role": self.role, "content": content_to_wire(self.content)}

    @property
    def text(self) -> str:
        """The message's text (a content array's text parts joined)."""
        return text_of(self.content)


Prompt = str | tuple[ChatMessage, ...]
"""A prompt line's text, or a chat line's messages."""


@dataclass(frozen=True)
class MessagesProblem:
    """Why a ``messages`` value is refused: a line error's code and message."""

    code: str
    message: str


@dataclass(frozen=True)
class Conversation:
    """A prompt as providers with a separate system field take it."""

    system: str | None
    turns: tuple[ChatMessage, ...]

    @classmethod
    def of(cls, prompt: Prompt, job_system: str | None = None) -> Conversation:
        """The job's system text and the line's system messages (joined), then the turns."""
        if isinstance(prompt, str):
            return cls(job_system, (ChatMessage("user", prompt),))
        systems = [m.text for m in prompt if m.role == "system"]
        turns = tuple(m for m in prompt if m.role != "system")
        parts = ([job_system] if job_system is not None else []) + systems
        return cls("\n\n".join(parts) if parts else None, turns)


def parse_messages(value: object) -> tuple[ChatMessage, ...] | MessagesProblem:
    """The messages of a chat line, or the first problem with them."""
    if not isinstance(value, list) or not value:
        return MessagesProblem(
            "invalid_messages",
            '"messages" must be a non-empty array of {"role": ..., "content": ...} objects',
        )
    if len(value) > MAX_MESSAGES:
        return MessagesProblem(
            "invalid_messages", f'"messages" has {len(value)} messages; at most {MAX_MESSAGES}'
        )
    messages: list[ChatMessage] = []
    for index, item in enumerate(value):
        parsed = _message(index, item)
        if isinstance(parsed, MessagesProblem):
            return parsed
        messages.append(parsed)
    problem = _order_problem(messages)
    return problem if problem is not None else tuple(messages)


def messages_from_dicts(items: Sequence[dict[str, Any]]) -> tuple[ChatMessage, ...]:
    """Messages from their stored form (a task body); ``KeyError`` on a malformed one."""
    return tuple(ChatMessage(str(item["role"]), parts_from_wire(item["content"])) for item in items)


def _message(index: int, item: object) -> ChatMessage | MessagesProblem:
    where = f"messages[{index}]"
    if not isinstance(item, dict):
        return MessagesProblem(
            "invalid_messages", f'"{where}" must be a {{"role", "content"}} object'
        )
    extra = sorted(set(item) - {"role", "content"})
    if extra:
        return MessagesProblem(
            "invalid_messages",
            f'"{where}" has unsupported field(s) {", ".join(extra)}; only role and content '
            "are read",
        )
    role = item.get("role")
    if role not in ROLES:
        return MessagesProblem(
            "invalid_message_role",
            f'"{where}.role" must be one of {", ".join(ROLES)}, got {role!r}',
        )
    content = item.get("content")
    if isinstance(content, list):
        try:
            parts = parse_parts(f"{where}.content", content, images=role == "user")
        except ContentProblem as problem:
            return MessagesProblem(problem.code, problem.message)
        return ChatMessage(str(role), parts)
    if not isinstance(content, str) or not content.strip():
        return MessagesProblem(
            "invalid_message_content",
            f'"{where}.content" must be a non-blank string or an array of parts',
        )
    if not encodable(content):
        return MessagesProblem(
            "invalid_message_content",
            f'"{where}.content" contains an unpaired surrogate escape, which is not text',
        )
    return ChatMessage(str(role), content)


def _order_problem(messages: Sequence[ChatMessage]) -> MessagesProblem | None:
    leading = 0
    while leading < len(messages) and messages[leading].role == "system":
        leading += 1
    turns = messages[leading:]
    if any(m.role == "system" for m in turns):
        return MessagesProblem(
            "invalid_message_order", "system messages must come before every other message"
        )
    if not turns or turns[0].role != "user" or turns[-1].role != "user":
        return MessagesProblem(
            "invalid_message_order",
            "after the system messages, the conversation must start and end with a user message",
        )
    return None
