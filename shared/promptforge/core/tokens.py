"""Token counts of a prompt without a tokenizer: a stated approximation and a hard upper bound.

No exact tokenizer installs from PyPI and works offline for every provider: ``tiktoken``
(OpenAI's) downloads its BPE files on first use unless they are cached beforehand, and
Anthropic and Gemini publish none. So PromptForge counts tokens two ways, for every provider:

- ``approx_tokens``: about four characters a token, plus ``TOKENS_PER_MESSAGE`` per
  message and ``TOKENS_PER_REPLY`` to prime the answer (OpenAI's chat accounting). English
  prose is close to it; code and non-Latin scripts have fewer characters per token.
- ``max_tokens_of``: one token per UTF-8 byte plus the same overheads. Byte-level BPE
  (OpenAI, Anthropic) and SentencePiece with byte fallback (Gemini) never make more tokens
  than bytes, so this bounds what a provider can bill for the prompt. The budget reserves it.
- ``min_tokens_of``: about six characters a token and no overheads, the low end.
"""

from __future__ import annotations

import math

from promptforge.core.messages import Prompt

CHARS_PER_TOKEN = 4
"""The approximation's characters per token."""
MIN_CHARS_PER_TOKEN_BOUND = 6
"""The low end's characters per token (long words, repeated text)."""
TOKENS_PER_MESSAGE = 3
"""Chat formatting around each message."""
TOKENS_PER_REPLY = 3
"""Tokens that prime the reply."""


def _texts(prompt: Prompt, system: str | None) -> list[str]:
    """The message texts a provider sees: the job's system text, then the prompt's."""
    texts = [system] if system else []
    if isinstance(prompt, str):
        texts.append(prompt)
    else:
        texts.extend(message.content for message in prompt)
    return texts


def approx_tokens(prompt: Prompt, system: str | None = None) -> int:
    """About how many input tokens ``prompt`` is (four characters a token, with overheads)."""
    texts = _texts(prompt, system)
    body = sum(math.ceil(len(text) / CHARS_PER_TOKEN) for text in texts)
    return body + TOKENS_PER_MESSAGE * len(texts) + TOKENS_PER_REPLY


def max_tokens_of(prompt: Prompt, system: str | None = None) -> int:
    """The most input tokens ``prompt`` can be billed as: a token per byte, with overheads."""
    texts = _texts(prompt, system)
    body = sum(len(text.encode("utf-8")) for text in texts)
    return body + TOKENS_PER_MESSAGE * len(texts) + TOKENS_PER_REPLY


def min_tokens_of(prompt: Prompt, system: str | None = None) -> int:
    """The fewest input tokens ``prompt`` is likely to be: six characters a token."""
    return sum(len(text) // MIN_CHARS_PER_TOKEN_BOUND for text in _texts(prompt, system))
