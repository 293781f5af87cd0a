"""Files shipped inside the package, and the one loader that reads them.

``models.json`` (the model catalogue), ``openapi.json`` (the API's document),
``example_prompts.jsonl`` (the demo and benchmark prompts), ``rate_scenarios.json``
(the rate benchmark's scenarios) and ``example_prompt_parts.json`` (what
``scripts/make_example_prompts.py`` builds the example prompts from). They are data,
not code: edit them as files, read them through these functions.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

__all__ = ["example_prompt_lines", "load_json", "read_text"]

EXAMPLE_PROMPTS = "example_prompts.jsonl"
"""The demo and benchmark prompts, one JSON object a line."""


def read_text(name: str) -> str:
    """The text of the shipped data file ``name`` (UTF-8)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def load_json(name: str) -> Any:
    """The shipped JSON file ``name``, parsed."""
    return json.loads(read_text(name))


def example_prompt_lines(count: int | None = None) -> list[str]:
    """The non-blank JSONL lines of the example prompts, the first ``count`` if given."""
    lines = [line for line in read_text(EXAMPLE_PROMPTS).splitlines() if line.strip()]
    return lines if count is None else lines[:count]
