"""Structured answers: JSON that follows the request's JSON schema, or, on purpose, not.

A request with a JSON schema (OpenAI and Mistral ``response_format.json_schema``,
Anthropic ``output_config.format``, Gemini ``generationConfig.responseJsonSchema``) is
answered with a value built from the schema: each required (and each listed) property,
the first of an ``enum``/``anyOf``/``oneOf``, strings and numbers within their bounds.
Deterministic in (seed, prompt), like the text answers.

``off_schema_rate`` (a ``SimulatorConfig`` field) makes that share of prompts answer
off-schema on the first try: prose around the JSON (not parseable) or, where the schema
names its top-level type, for half of them a value of another type. Which prompts is a
pure function of (seed, prompt), ``answers_off_schema``, so a test can tell exactly which
ones. A follow-up (the conversation already holds an assistant answer: a re-ask) is
always answered on-schema.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from promptforge.sim.providers.text import Completion, count_tokens

_MAX_DEPTH = 8
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def answers_off_schema(seed: int, prompt: str, rate: float) -> bool:
    """Whether the first answer to ``prompt`` misses the schema at ``off_schema_rate``."""
    return _draw(seed, prompt, "off-schema") < rate


def schema_completion(
    seed: int, prompt: str, schema: dict[str, Any], *, off_schema: bool
) -> Completion:
    """The answer: JSON built from ``schema``, or (``off_schema``) an answer that misses it."""
    value = instance(schema, _draw(seed, prompt, "value"))
    text = json.dumps(value, separators=(",", ":"))
    if off_schema:
        typed = isinstance(schema.get("type"), str) and schema["type"] != "array"
        if typed and _draw(seed, prompt, "kind") < 0.5:  # an object where a scalar goes, or
            text = json.dumps({"answer": value} if not isinstance(value, dict) else [value])
        else:  # prose around the JSON: not parseable whatever the schema allows
            text = f"Sure! Here is the JSON you asked for:\n{text}"
    return Completion(text=text, tokens=max(1, count_tokens(text)), truncated=False)


def instance(schema: Any, salt: float, depth: int = 0) -> Any:
    """A value that validates against ``schema`` (the common JSON Schema keywords)."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][int(salt * len(schema["enum"])) % len(schema["enum"])]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return instance(options[0], salt, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    return _typed(str(kind).lower(), schema, salt, depth)


def _typed(kind: str, schema: dict[str, Any], salt: float, depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        return {name: instance(sub, salt, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [instance(schema.get("items", {}), salt, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100))
        value = low + (high - low) * salt
        value = min(max(value, low + 1 if "exclusiveMinimum" in schema else low), high)
        if "exclusiveMaximum" in schema and value >= high:
            value = high - 1
        return int(value) if kind == "integer" else round(float(value), 3)
    if kind == "boolean":
        return salt < 0.5
    if kind == "null":
        return None
    word = _WORDS[int(salt * len(_WORDS)) % len(_WORDS)]
    low = int(schema.get("minLength", 0))
    high = int(schema.get("maxLength", max(low, len(word))))
    return (word * (low // len(word) + 1))[: max(low, min(len(word), high))]


def _draw(seed: int, prompt: str, what: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00{what}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
