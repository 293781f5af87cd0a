"""Every generation option, on every provider: mapped to the provider's own field, or refused.

One table, the four providers side by side. A cell is either the path in the request body
where the option lands and the value it has there, or ``REFUSED``: the adapter lists the
option in ``unsupported()`` (init answers 422) and the option never reaches the wire.
A ``GenerationParams`` field missing from the table fails the test, so a new option cannot
be added without deciding, per provider, where it goes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from promptforge.core.models import GenerationParams
from promptforge.providers.base import PromptCall
from promptforge.providers.registry import SUPPORTED_PROVIDERS, get_adapter

REFUSED = "422"
NOT_SENT = "not sent"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}
FUNCTION = {"name": "get_weather", "description": "Weather of a city", "parameters": SCHEMA}
TOOLS = {  # Phoenix's PromptTools, as a prompt version holds them
    "type": "tools",
    "tools": [{"type": "function", "function": FUNCTION}],
    "tool_choice": {"type": "specific_function", "function_name": "get_weather"},
    "disable_parallel_tool_calls": True,
}
OPENAI_TOOLS = [{"type": "function", "function": FUNCTION}]
OPENAI_CHOICE = {"type": "function", "function": {"name": "get_weather"}}

# case -> (params, {provider: (path, value) | REFUSED})
TABLE: dict[str, tuple[GenerationParams, dict[str, Any]]] = {
    "system": (
        GenerationParams(system="Be brief."),
        {
            "openai": ("messages.0", {"role": "system", "content": "Be brief."}),
            "anthropic": ("system", "Be brief."),
            "gemini": ("systemInstruction.parts.0.text", "Be brief."),
            "mistral": ("messages.0", {"role": "system", "content": "Be brief."}),
        },
    ),
    "temperature": (
        GenerationParams(temperature=0.3),
        {
            "openai": ("temperature", 0.3),
            "anthropic": ("temperature", 0.3),
            "gemini": ("generationConfig.temperature", 0.3),
            "mistral": ("temperature", 0.3),
        },
    ),
    "temperature_above_1": (
        GenerationParams(temperature=1.5),
        {
            "openai": ("temperature", 1.5),
            "anthropic": REFUSED,  # Messages accepts 0..1 only
            "gemini": ("generationConfig.temperature", 1.5),
            "mistral": ("temperature", 1.5),
        },
    ),
    "max_tokens": (
        GenerationParams(max_tokens=77),
        {
            "openai": ("max_completion_tokens", 77),
            "anthropic": ("max_tokens", 77),
            "gemini": ("generationConfig.maxOutputTokens", 77),
            "mistral": ("max_tokens", 77),
        },
    ),
    "top_p": (
        GenerationParams(top_p=0.9),
        {
            "openai": ("top_p", 0.9),
            "anthropic": ("top_p", 0.9),
            "gemini": ("generationConfig.topP", 0.9),
            "mistral": ("top_p", 0.9),
        },
    ),
    "stop": (
        GenerationParams(stop=("END", "\n\n")),
        {
            "openai": ("stop", ["END", "\n\n"]),
            "anthropic": ("stop_sequences", ["END", "\n\n"]),
            "gemini": ("generationConfig.stopSequences", ["END", "\n\n"]),
            "mistral": ("stop", ["END", "\n\n"]),
        },
    ),
    "seed": (
        GenerationParams(seed=42),
        {
            "openai": ("seed", 42),
            "anthropic": REFUSED,  # Messages has no seed
            "gemini": ("generationConfig.seed", 42),
            "mistral": ("random_seed", 42),
        },
    ),
    "response_format_json_object": (
        GenerationParams(response_format={"type": "json_object"}),
        {
            "openai": ("response_format", {"type": "json_object"}),
            "anthropic": REFUSED,
            "gemini": ("generationConfig.responseMimeType", "application/json"),
            "mistral": ("response_format", {"type": "json_object"}),
        },
    ),
    "response_format_json_schema": (
        GenerationParams(response_format=JSON_SCHEMA),
        {
            "openai": ("response_format", JSON_SCHEMA),
            "anthropic": ("output_config.format", {"type": "json_schema", "schema": SCHEMA}),
            "gemini": ("generationConfig.responseJsonSchema", SCHEMA),
            "mistral": ("response_format", JSON_SCHEMA),
        },
    ),
    "tools": (
        GenerationParams(tools=TOOLS),
        {
            "openai": ("tools", OPENAI_TOOLS),
            "anthropic": (
                "tools",
                [
                    {
                        "name": "get_weather",
                        "description": "Weather of a city",
                        "input_schema": SCHEMA,
                    }
                ],
            ),
            "gemini": (
                "tools.0.functionDeclarations",
                [
                    {
                        "name": "get_weather",
                        "description": "Weather of a city",
                        "parametersJsonSchema": SCHEMA,
                    }
                ],
            ),
            "mistral": ("tools", OPENAI_TOOLS),
        },
    ),
    "tools_choice": (
        GenerationParams(tools=TOOLS),
        {
            "openai": ("tool_choice", OPENAI_CHOICE),
            "anthropic": (
                "tool_choice",
                {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
            ),
            "gemini": (
                "toolConfig.functionCallingConfig",
                {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
            ),
            "mistral": ("tool_choice", OPENAI_CHOICE),
        },
    ),
    "prompt_version_id": (  # read by ingest (the template), never by the provider
        GenerationParams(prompt_version_id="pv_1"),
        dict.fromkeys(("openai", "anthropic", "gemini", "mistral"), NOT_SENT),
    ),
}

# Cases named after a field (or starting with it) cover that field.
_FIELDS = [f.name for f in dataclasses.fields(GenerationParams)]
BASE_URLS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "mistral": "https://api.mistral.ai",
}
CELLS = [
    pytest.param(case, provider, id=f"{case}-{provider}")
    for case in TABLE
    for provider in SUPPORTED_PROVIDERS
]


def _at(body: Any, path: str) -> Any:
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


def _option(case: str) -> str:
    return next(name for name in _FIELDS if case.startswith(name))


def test_the_table_covers_every_option_and_every_provider() -> None:
    assert {_option(case) for case in TABLE} == set(_FIELDS)
    for _, cells in TABLE.values():
        assert set(cells) == set(SUPPORTED_PROVIDERS)


@pytest.mark.parametrize(("case", "provider"), CELLS)
def test_option_is_mapped_or_refused(case: str, provider: str) -> None:
    params, cells = TABLE[case]
    adapter = get_adapter(provider)
    request = adapter.build_request(
        PromptCall(
            base_url=BASE_URLS[provider],
            api_key="key-123456",
            model="some-model",
            prompt="What is the capital of France?",
            params=params,
        )
    )
    option = _option(case)
    if cells[provider] == NOT_SENT:
        assert adapter.unsupported(params) == []
        baseline = adapter.build_request(
            PromptCall(
                base_url=BASE_URLS[provider],
                api_key="key-123456",
                model="some-model",
                prompt="What is the capital of France?",
                params=GenerationParams(),
            )
        )
        assert request.json == baseline.json
    elif cells[provider] == REFUSED:
        assert adapter.unsupported(params) == [option]
        # Never silently sent in some other shape either.
        baseline = adapter.build_request(
            PromptCall(
                base_url=BASE_URLS[provider],
                api_key="key-123456",
                model="some-model",
                prompt="What is the capital of France?",
                params=GenerationParams(),
            )
        )
        assert request.json == baseline.json
    else:
        path, value = cells[provider]
        assert adapter.unsupported(params) == []
        assert _at(request.json, path) == value


@pytest.mark.parametrize("provider", SUPPORTED_PROVIDERS)
def test_every_option_at_once_maps_or_is_listed(provider: str) -> None:
    """All options together: exactly the refused ones are listed, the rest all land."""
    combined = GenerationParams(
        system="Be brief.",
        temperature=0.3,
        max_tokens=77,
        top_p=0.9,
        stop=("END", "\n\n"),
        seed=42,
        response_format=JSON_SCHEMA,
    )
    refused = {
        _option(case)
        for case, (params, cells) in TABLE.items()
        if cells[provider] == REFUSED and _matches(params, combined)
    }
    assert set(get_adapter(provider).unsupported(combined)) == refused


def _matches(params: GenerationParams, combined: GenerationParams) -> bool:
    """Whether every option set in ``params`` has the same value in ``combined``."""
    return all(getattr(combined, k) == v for k, v in dataclasses.asdict(params).items() if v)


def test_anthropic_always_sends_max_tokens() -> None:
    """Required by the Messages API: a default when the job sets none."""
    request = get_adapter("anthropic").build_request(
        PromptCall(
            base_url=BASE_URLS["anthropic"],
            api_key="key-123456",
            model="claude-haiku-4-5",
            prompt="hi",
            params=GenerationParams(),
        )
    )
    assert request.json["max_tokens"] == 1024
