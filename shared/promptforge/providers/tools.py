"""Tools and JSON answers of a prompt version, in each provider's own wire form (sans-I/O).

A job's ``tools`` is Phoenix's ``PromptTools``: function tools (``{type: function,
function: {name, description?, parameters?, strict?}}``), an optional ``tool_choice``
(``none``, ``zero_or_more``, ``one_or_more``, ``specific_function``) and
``disable_parallel_tool_calls``. The ``*_tools`` functions give the body fields each
adapter adds; the ``*_tool_calls`` functions read the calls back out of an answer, each
as ``{name, arguments}`` with the arguments as a JSON object (OpenAI sends them as text:
parsed, or kept as text if they are not JSON).
"""

from __future__ import annotations

import json
from typing import Any

ToolCalls = tuple[dict[str, Any], ...]


def _functions(tools: dict[str, Any]) -> list[dict[str, Any]]:
    return [tool["function"] for tool in tools.get("tools", []) if tool.get("type") == "function"]


def _choice(tools: dict[str, Any]) -> tuple[str | None, str | None]:
    choice = tools.get("tool_choice") or {}
    return choice.get("type"), choice.get("function_name")


def openai_tools(tools: dict[str, Any]) -> dict[str, Any]:
    """Chat Completions: ``tools``, ``tool_choice``, ``parallel_tool_calls``."""
    body: dict[str, Any] = {
        "tools": [{"type": "function", "function": dict(f)} for f in _functions(tools)]
    }
    kind, name = _choice(tools)
    if kind is not None:
        body["tool_choice"] = (
            {"type": "function", "function": {"name": name}}
            if kind == "specific_function"
            else {"none": "none", "zero_or_more": "auto", "one_or_more": "required"}[kind]
        )
    if tools.get("disable_parallel_tool_calls"):
        body["parallel_tool_calls"] = False
    return body


def anthropic_tools(tools: dict[str, Any]) -> dict[str, Any]:
    """Messages: ``tools`` (``input_schema``) and ``tool_choice``."""
    body: dict[str, Any] = {
        "tools": [
            {
                "name": f["name"],
                **({"description": f["description"]} if f.get("description") else {}),
                "input_schema": f.get("parameters") or {"type": "object"},
            }
            for f in _functions(tools)
        ]
    }
    kind, name = _choice(tools)
    choices: dict[str, dict[str, Any]] = {
        "none": {"type": "none"},
        "zero_or_more": {"type": "auto"},
        "one_or_more": {"type": "any"},
        "specific_function": {"type": "tool", "name": name},
    }
    choice = choices[kind] if kind is not None else None
    if tools.get("disable_parallel_tool_calls") and (choice or {}).get("type") != "none":
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None:
        body["tool_choice"] = choice
    return body


def anthropic_output_config(response_format: dict[str, Any]) -> dict[str, Any] | None:
    """Messages' structured outputs: ``output_config.format`` from a ``json_schema`` format."""
    if response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        return None
    return {"format": {"type": "json_schema", "schema": schema}}


def gemini_tools(tools: dict[str, Any]) -> dict[str, Any]:
    """generateContent: ``tools[].functionDeclarations`` (JSON Schema) and ``toolConfig``."""
    declarations = [
        {
            "name": f["name"],
            **({"description": f["description"]} if f.get("description") else {}),
            **({"parametersJsonSchema": f["parameters"]} if f.get("parameters") else {}),
        }
        for f in _functions(tools)
    ]
    body: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    kind, name = _choice(tools)
    if kind is not None:
        mode = {"none": "NONE", "zero_or_more": "AUTO"}.get(kind, "ANY")
        config: dict[str, Any] = {"mode": mode}
        if kind == "specific_function":
            config["allowedFunctionNames"] = [name]
        body["toolConfig"] = {"functionCallingConfig": config}
    return body


def openai_tool_calls(message: dict[str, Any]) -> ToolCalls:
    """``message.tool_calls[].function`` → ``{name, arguments}``."""
    calls = message.get("tool_calls")
    out = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            out.append(
                {"name": function["name"], "arguments": _arguments(function.get("arguments"))}
            )
    return tuple(out)


def anthropic_tool_calls(content: list[Any]) -> ToolCalls:
    """``tool_use`` blocks → ``{name, arguments}``."""
    return tuple(
        {"name": block["name"], "arguments": block.get("input", {})}
        for block in content
        if isinstance(block, dict)
        and block.get("type") == "tool_use"
        and isinstance(block.get("name"), str)
    )


def gemini_tool_calls(parts: list[Any]) -> ToolCalls:
    """``functionCall`` parts → ``{name, arguments}``."""
    calls = [part.get("functionCall") for part in parts if isinstance(part, dict)]
    return tuple(
        {"name": call["name"], "arguments": call.get("args", {})}
        for call in calls
        if isinstance(call, dict) and isinstance(call.get("name"), str)
    )


def _arguments(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
