"""A prompt and its version as Phoenix's ``POST /v1/prompts`` spells them, checked strictly.

Every problem is a 422 ``invalid_prompt`` whose ``details.field`` is the path of the
field (``version.invocation_parameters.openai.temperature``): an unknown
``template_format`` or ``template_type``, invocation parameters outside the provider's
range (OpenAI's ``temperature`` 0-2, Anthropic's 0-1 and its required ``max_tokens``),
a ``response_format`` or tool schema that is not JSON Schema, a tool without a name.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from promptforge.errors import BadRequest, Unprocessable

NAME_PATTERN = r"^[a-z0-9]([_a-z0-9-]*[a-z0-9])?$"
"""Phoenix's identifier rule for prompt and tag names."""
MAX_BODY_BYTES = 256 * 1024
MODEL_PROVIDERS = (
    "OPENAI",
    "AZURE_OPENAI",
    "ANTHROPIC",
    "GOOGLE",
    "DEEPSEEK",
    "XAI",
    "OLLAMA",
    "AWS",
)
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=200)]
_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PromptData(_Strict):
    """The prompt part of the body (kept from the first version; ignored after)."""

    name: Name
    description: str | None = None
    source_prompt_id: str | None = None
    metadata: dict[str, Any] | None = None


class _Part(_Strict):
    type: Literal["text", "tool_call", "tool_result"]
    text: str | None = None
    tool_call_id: str | None = None
    tool_call: dict[str, Any] | None = None
    tool_result: Any = None


class _Message(_Strict):
    role: Literal["user", "assistant", "model", "ai", "tool", "system", "developer"]
    content: str | list[_Part]


class _ChatTemplate(_Strict):
    type: Literal["chat"]
    messages: list[_Message] = Field(min_length=1)


class _StringTemplate(_Strict):
    type: Literal["string"]
    template: str


class _OpenAIParams(_Strict):
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = None
    stop: list[str] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    extra_body: dict[str, Any] | None = None


class _AnthropicParams(_Strict):
    max_tokens: int = Field(ge=1)
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)
    stop_sequences: list[str] | None = None
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None


class _GoogleParams(_Strict):
    temperature: float | None = Field(None, ge=0, le=2)
    max_output_tokens: int | None = Field(None, ge=1)
    stop_sequences: list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = Field(None, ge=1)
    thinking_config: dict[str, Any] | None = None


class _AwsParams(_Strict):
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=1)
    top_p: float | None = Field(None, ge=0, le=1)


_PARAMS: dict[str, type[_Strict]] = {
    "openai": _OpenAIParams,
    "azure_openai": _OpenAIParams,
    "deepseek": _OpenAIParams,
    "xai": _OpenAIParams,
    "ollama": _OpenAIParams,
    "anthropic": _AnthropicParams,
    "google": _GoogleParams,
    "aws": _AwsParams,
}


class _Function(_Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    @field_validator("parameters")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else check_json_schema(value)


class _ToolFunction(_Strict):
    type: Literal["function"]
    function: _Function


class _ToolChoice(_Strict):
    type: Literal["none", "zero_or_more", "one_or_more", "specific_function"]
    function_name: str | None = None


class _Tools(_Strict):
    type: Literal["tools"]
    tools: list[_ToolFunction] = Field(min_length=1)
    tool_choice: _ToolChoice | None = None
    disable_parallel_tool_calls: bool | None = None


class _JsonSchema(_Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_json_schema(value)


class _ResponseFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: _JsonSchema


class PromptVersionData(_Strict):
    """One version: template, model, invocation parameters, tools and response format."""

    model_provider: Literal[MODEL_PROVIDERS]  # type: ignore[valid-type]
    model_name: str = Field(min_length=1, max_length=200)
    template: _ChatTemplate | _StringTemplate = Field(discriminator="type")
    template_type: Literal["STR", "CHAT"]
    template_format: Literal["MUSTACHE", "F_STRING", "NONE"]
    invocation_parameters: dict[str, Any]
    description: str | None = None
    tools: _Tools | None = None
    response_format: _ResponseFormat | None = None


class CreatePromptBody(_Strict):
    """``POST /v1/prompts``: the prompt (created on first use of its name) and a version."""

    prompt: PromptData
    version: PromptVersionData


class TagBody(_Strict):
    """``POST /v1/prompt_versions/{id}/tags``."""

    name: Name
    description: str | None = None


def check_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` if it reads as JSON Schema (types known, properties schemas), else ValueError."""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for item in kinds:
        if item not in _JSON_TYPES:
            raise ValueError(f"not JSON Schema: type {item!r} is not one of {sorted(_JSON_TYPES)}")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError("not JSON Schema: properties must be an object of schemas")
    for name, sub in properties.items():
        if not isinstance(sub, dict):
            raise ValueError(f"not JSON Schema: properties.{name} must be a schema object")
        check_json_schema(sub)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError("not JSON Schema: required must be an array of property names")
    items = schema.get("items")
    if items is not None:
        if not isinstance(items, dict):
            raise ValueError("not JSON Schema: items must be a schema object")
        check_json_schema(items)
    return schema


def parse_body(body: bytes, model: type[_Strict]) -> dict[str, Any]:
    """The body checked against ``model`` (plus the invocation parameters of its provider),
    as the JSON it will be stored as; 400 for bad JSON, 422 naming the field otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("malformed_json", f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("malformed_json", "request body must be a JSON object")
    try:
        parsed = model.model_validate(data)
        if isinstance(parsed, CreatePromptBody):
            _check_version(parsed.version)
    except ValidationError as exc:
        raise _unprocessable(exc, data) from exc
    return parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _check_version(version: PromptVersionData) -> None:
    """What one field's type cannot say: the template's and parameters' kinds agree."""
    expected = "chat" if version.template_type == "CHAT" else "string"
    if version.template.type != expected:
        raise _invalid(
            "version.template.type",
            f"must be {expected!r} for template_type {version.template_type}",
        )
    provider, params = version.model_provider, version.invocation_parameters
    kind = provider.lower()
    if params.get("type") != kind:
        raise _invalid("version.invocation_parameters.type", f"must be {kind!r} for {provider}")
    if set(params) - {"type", kind}:
        extra = sorted(set(params) - {"type", kind})[0]
        raise _invalid(f"version.invocation_parameters.{extra}", "unknown field")
    try:
        _PARAMS[kind].model_validate(params.get(kind, {}))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = ".".join(["version", "invocation_parameters", kind, *map(str, first["loc"])])
        raise _invalid(path, first["msg"]) from exc


def _unprocessable(exc: ValidationError, data: object) -> Unprocessable:
    first = exc.errors(include_url=False)[0]
    return _invalid(_path(first["loc"], data), first["msg"])


def _invalid(path: str, message: str) -> Unprocessable:
    return Unprocessable("invalid_prompt", f"field {path!r}: {message}", details={"field": path})


def _path(loc: tuple[int | str, ...], data: object) -> str:
    """The field's path in the body, without the tags pydantic adds for unions."""
    parts: list[str] = []
    node = data
    for part in loc:
        absent = not isinstance(node, dict) or part not in node
        if absent and isinstance(node, dict) and part == node.get("type"):
            continue  # a discriminated union's tag
        if absent and isinstance(part, str) and (part == "str" or part.startswith("list[")):
            continue  # a plain union's member
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
        parts.append(str(part))
    return ".".join(parts)
