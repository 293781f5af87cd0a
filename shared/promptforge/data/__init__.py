"""Files shipped inside the package, and the one loader that reads them.

``models.json`` (the model catalogue),
``example_prompts.jsonl`` (the demo and benchmark prompts), ``rate_scenarios.json``
(the rate benchmark's scenarios) and ``example_prompt_parts.json`` (what
``scripts/make_example_prompts.py`` builds the example prompts from). They are data,
not code: edit them as files, read them through these functions.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

__all__ = ["load_json", "read_text"]


def read_text(name: str) -> str:
    """The text of the shipped data file ``name`` (UTF-8)."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def load_json(name: str) -> Any:
    """The shipped JSON file ``name``, parsed."""
    return json.loads(read_text(name))
