"""Deterministic generated text with realistic token counts (about 4 characters a token).

The same (seed, prompt) always yields the same answer, so duplicate calls are
recognisable and runs are reproducible. Output length is drawn from a gamma
distribution around the configured mean and capped by the request's max tokens.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

CHARS_PER_TOKEN = 4
# Chat formats add a few tokens per message and to prime the reply.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3
# Gamma shape: coefficient of variation 1/sqrt(4) = 0.5 around the mean.
_LENGTH_SHAPE = 4.0
_VOCABULARY = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an they you were her she there been one all we their has would when if "
    "so no will more about can said what out up into its time only could new them some than "
    "other then these two may first any like now my such make over our even most after also "
    "did many before must through back years where much your way well down should because "
    "each just those people how too little state good very world still own see men work long "
    "here get both between life being under never day same another know while last might us "
    "great old year off come since against go came right used take three rate limit token "
    "request batch prompt model answer result queue retry budget signal minute second"
)
_WORDS = tuple(_VOCABULARY.split())


@dataclass(frozen=True)
class Completion:
    """A generated answer: its text, its token count, and whether max tokens cut it short."""

    text: str
    tokens: int
    truncated: bool


def count_tokens(text: str) -> int:
    """Tokens in ``text`` at about four characters a token (0 for empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_tokens(messages: Sequence[str]) -> int:
    """Tokens a provider reports for a prompt made of ``messages`` (texts), overhead included."""
    return sum(count_tokens(m) + _TOKENS_PER_MESSAGE for m in messages) + _TOKENS_PER_REPLY


def prompt_key(prompt: str) -> str:
    """The short hash that identifies a prompt in the simulator's stats."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def _rng(seed: int, prompt: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _words(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    length = 0
    sentence = 0
    while length <= chars:  # joined, the text is length - 1 characters long
        word = rng.choice(_WORDS)
        if sentence == 0:
            word = word.capitalize()
        sentence += 1
        if sentence >= rng.randint(8, 16):
            word += "."
            sentence = 0
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)


def complete(seed: int, prompt: str, max_tokens: int | None, mean_tokens: int) -> Completion:
    """The answer to ``prompt``: deterministic in (seed, prompt), capped at ``max_tokens``."""
    rng = _rng(seed, prompt)
    wanted = max(1, round(rng.gammavariate(_LENGTH_SHAPE, mean_tokens / _LENGTH_SHAPE)))
    tokens = wanted if max_tokens is None else max(0, min(wanted, max_tokens))
    chars = tokens * CHARS_PER_TOKEN
    text = _words(rng, chars)[:chars]
    if text.endswith(" "):
        text = text[:-1] + "."
    return Completion(text=text, tokens=tokens, truncated=tokens < wanted)
