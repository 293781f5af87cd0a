"""The init request body: parsed strictly, every problem turned into a 400 that says what to fix."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from promptforge.core.models import GenerationParams
from promptforge.errors import BadRequest

MAX_INIT_BODY_BYTES = 64 * 1024
"""The largest init body accepted (a JSON schema in ``response_format`` fits easily)."""

MAX_INIT_DEPTH = 64
"""The deepest nesting of objects and arrays accepted in an init body (JSON schemas included)."""

_INT64 = 2**63
_Model = TypeVar("_Model", bound=BaseModel)

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
"""OpenAI's rule for a batch's metadata: up to 16 pairs, keys ≤ 64 and values ≤ 512 chars."""

MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_METADATA_KEY_CHARS)]
MetadataValue = Annotated[str, StringConstraints(max_length=MAX_METADATA_VALUE_CHARS)]


class JsonObjectFormat(BaseModel):
    """``{"type": "json_object"}``: the model must answer with a JSON object."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["json_object"]


class JsonSchemaSpec(BaseModel):
    """A named JSON schema the answer must follow."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None
    description: str | None = None


class JsonSchemaFormat(BaseModel):
    """``{"type": "json_schema", "json_schema": {...}}``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


class InitRequest(BaseModel):
    """``POST /v1/jobs/init``: the seed's fields plus optional generation options."""

    model_config = ConfigDict(extra="forbid", strict=True)

    provider: str | None = Field(
        None,
        description="Required unless the job runs a prompt version (prompt_version_id or prompt).",
    )
    model: str | None = Field(None, min_length=1, max_length=200)
    prompt_version_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Run this prompt version over rows {prompt_id, variables}: the version "
        "gives provider, model, parameters, tools and response format.",
    )
    prompt: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Run a prompt (its name or id) over rows: the version its tag names, "
        "or its latest version.",
    )
    tag: str | None = Field(None, min_length=1, max_length=200, description="With prompt.")
    max_retries: int = Field(3, ge=0, le=20)
    rpm: int | None = Field(None, ge=1, le=10_000_000)
    tpm: int | None = Field(None, ge=1, le=1_000_000_000)
    system: str | None = Field(None, max_length=60_000)  # fits the 64 KiB body
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = Field(None, ge=-_INT64, lt=_INT64)
    response_format: JsonObjectFormat | JsonSchemaFormat | None = Field(None, discriminator="type")
    name: str | None = Field(
        None, min_length=1, max_length=256, description="A name to find the job by in lists."
    )
    metadata: dict[MetadataKey, MetadataValue] | None = Field(
        None,
        max_length=MAX_METADATA_PAIRS,
        description="Up to 16 string pairs (keys up to 64 characters, values up to 512), "
        "shown in status and list.",
    )
    # Answers that match the schema (core.schema_retry).
    max_schema_retries: int = Field(
        1,
        ge=0,
        le=5,
        description="With a json_schema response_format: how often a prompt whose answer "
        "does not validate is asked again, the validation error appended (each re-ask is "
        "a billed call); then it ends as schema_mismatch.",
    )
    webhook_url: str | None = Field(
        None,
        max_length=2048,
        pattern=r"^https?://[^\s]+$",
        description="Where to POST a signed Standard Webhooks event when the job ends; the "
        "answer then carries the webhook_secret (shown once) to verify it with.",
    )
    # The cost cap (core.spend).
    max_cost_usd: float | None = Field(
        None,
        gt=0,
        le=1_000_000,
        description="Stop the job before it can spend more than this many USD at the model "
        "catalogue's list prices: each call's worst case is reserved before it is sent, and "
        "prompts the cap keeps from running end in errors.jsonl as budget_exceeded.",
    )
    # Pay once for duplicates (core/dedupe.py).
    dedupe: bool = Field(
        False,
        description="Call identical requests (same model, messages, parameters) once and "
        "write the answer for every prompt_id (deduplicated_from on the copies). Off by "
        "default: a job sampling with temperature wants each call.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> InitRequest:
        by_prompt = self.prompt_version_id is not None or self.prompt is not None
        if self.prompt_version_id is not None and (self.prompt is not None or self.tag is not None):
            raise ValueError("give prompt_version_id, or prompt (with an optional tag), not both")
        if self.tag is not None and self.prompt is None:
            raise ValueError("tag needs prompt (the prompt's name)")
        if by_prompt:
            given = [name for name in _VERSION_OPTIONS if getattr(self, name) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} come from the prompt version; remove them or run "
                    "without a prompt"
                )
        elif self.provider is None or self.model is None:
            raise ValueError("give provider and model, or a prompt (prompt_version_id or prompt)")
        return self

    def params(self) -> GenerationParams:
        """The generation options as the core's value object."""
        response_format = (
            self.response_format.model_dump(by_alias=True, exclude_none=True)
            if self.response_format is not None
            else None
        )
        return GenerationParams(
            system=self.system,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            top_p=self.top_p,
            stop=tuple(self.stop) if self.stop is not None else None,
            seed=self.seed,
            response_format=response_format,
        )


_VERSION_OPTIONS = (
    "provider",
    "model",
    "system",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "seed",
    "response_format",
)
"""What a prompt version decides: not given with one."""


def parse_init_request(body: bytes) -> InitRequest:
    """Parse and validate an init body; raise ``BadRequest`` naming the first problem."""
    data = _load_json(body)
    if not isinstance(data, dict):
        raise BadRequest("malformed_json", "request body must be a JSON object")
    if _depth(data) > MAX_INIT_DEPTH:
        raise BadRequest(
            "malformed_json",
            f"request body nests objects or arrays more than {MAX_INIT_DEPTH} levels deep; "
            "flatten it",
        )
    for name in ("temperature", "top_p", "max_cost_usd"):
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < _INT64:
            data[name] = float(value)  # JSON has one number type; 1 means 1.0 here
    if "prompt_version_id" not in data and "prompt" not in data:
        missing = [name for name in ("provider", "model") if name not in data]
        if missing:
            raise BadRequest(
                "missing_field",
                f"missing required field(s): {', '.join(missing)} (or run a prompt version: "
                "prompt_version_id, or prompt and an optional tag)",
                details={"fields": missing},
            )
    try:
        return InitRequest.model_validate(data)
    except ValidationError as exc:
        raise _bad_request(exc) from exc


def parse_small_body(model: type[_Model], body: bytes) -> _Model:
    """A call's small JSON object body (an empty one: every default) as ``model``; a 400
    naming the first problem, worded as init's are."""
    data = _load_json(body) if body.strip() else {}
    if not isinstance(data, dict):
        raise BadRequest("malformed_json", "request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _bad_request(exc) from exc


def _load_json(body: bytes) -> object:
    """The parsed body, or a ``malformed_json`` 400 that says what is wrong with it."""
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(
            "malformed_json", f"request body is not valid JSON: {exc}; send a JSON object"
        ) from exc
    except RecursionError as exc:
        raise BadRequest(
            "malformed_json", f"request body nests more than {MAX_INIT_DEPTH} levels deep"
        ) from exc
    except ValueError as exc:  # the only other one: an integer over Python's 4,300 digits
        raise BadRequest(
            "malformed_json", "request body has a number too long to read (over 4,300 digits)"
        ) from exc


def _depth(value: object) -> int:
    """How deeply objects and arrays nest in a parsed JSON value (a scalar is 0), iteratively."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_INIT_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


_FIELD_LISTS = (
    ("missing", "missing_field", "missing required field(s): {}"),
    (
        "extra_forbidden",
        "unknown_field",
        "unknown field(s): {}; see the API reference for accepted fields",
    ),
)
"""Pydantic error types answered with every field of that type: type, code, message."""


def _bad_request(exc: ValidationError) -> BadRequest:
    errors = exc.errors(include_url=False)
    for kind, code, message in _FIELD_LISTS:
        fields = [_loc(e["loc"]) for e in errors if e["type"] == kind]
        if fields:
            return BadRequest(code, message.format(", ".join(fields)), details={"fields": fields})
    first = errors[0]
    field = _loc(first["loc"])
    if not field:  # the fields together: which target the job runs
        return BadRequest("invalid_field", first["msg"].removeprefix("Value error, "))
    return BadRequest(
        "invalid_field",
        f"field {field!r}: {first['msg']}",
        details={"field": field},
    )


def _loc(loc: tuple[int | str, ...]) -> str:
    parts = list(loc)
    # A discriminated union inserts its tag: response_format.json_schema.<field>.
    if len(parts) >= 2 and parts[0] == "response_format" and parts[1] in _FORMAT_TAGS:
        del parts[1]
    return ".".join(str(part) for part in parts)


_FORMAT_TAGS = ("json_object", "json_schema")
