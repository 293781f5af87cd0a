"""Jobs over a prompt version: which provider, model and options a version means, and the
reader that turns a job's ``{prompt_id, variables}`` rows into chat prompts.

``model_provider`` OPENAI runs on openai, ANTHROPIC on anthropic and GOOGLE on gemini;
DEEPSEEK, XAI and OLLAMA on openai too, that is the OpenAI-compatible adapter at the
openai endpoint's configured base URL (``providers/openai_compat.py``: the server's models
join the catalogue as ``openai`` entries of the operator's models file); AZURE_OPENAI and
AWS are a 422 ``unsupported_provider`` that says so. The job records the version's
id and what it decides (model, parameters, tools, response format), so a later version
changes no job already made. A row is rendered as Phoenix's formatter renders it
(``prompts.render``); the result goes through the chat-line rules (``core/messages.py``)
like any ``messages`` line, and a row missing a variable is that row's
``missing_variable`` error, never a call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from promptforge.core.deps import Deps
from promptforge.core.jsonl import LineError, RawLine, Verdict, validate_line
from promptforge.core.messages import parse_messages
from promptforge.core.models import GenerationParams
from promptforge.core.requests import InitRequest
from promptforge.errors import Unprocessable
from promptforge.prompts import registry
from promptforge.prompts.render import Template, TemplateProblem
from promptforge.prompts.store import VersionRecord

PROVIDERS = {
    "OPENAI": "openai",
    "ANTHROPIC": "anthropic",
    "GOOGLE": "gemini",
    "DEEPSEEK": "openai",
    "XAI": "openai",
    "OLLAMA": "openai",
}
"""Phoenix's ``model_provider`` → the PromptForge provider that runs it."""
_COMPATIBLE = ("openai", "deepseek", "xai", "ollama")
_MAX_TOKENS = {
    **dict.fromkeys(_COMPATIBLE, "max_tokens"),
    "anthropic": "max_tokens",
    "google": "max_output_tokens",
}
_STOP = {
    **dict.fromkeys(_COMPATIBLE, "stop"),
    "anthropic": "stop_sequences",
    "google": "stop_sequences",
}

_PROMPT_ID_CODES = ("missing_prompt_id", "invalid_prompt_id")
LineValidator = Callable[[RawLine, int], Verdict | None]


@dataclass(frozen=True)
class JobTarget:
    """What a job runs: provider, model and the options the adapter sends."""

    provider: str
    model: str
    params: GenerationParams


async def job_target(deps: Deps, tenant_id: str, request: InitRequest) -> JobTarget:
    """The init request's target: its own fields, or those of the prompt version it names."""
    if request.prompt_version_id is None and request.prompt is None:
        assert request.provider is not None and request.model is not None  # the request's rule
        return JobTarget(request.provider, request.model, request.params())
    if request.prompt_version_id is not None:
        version = await registry.get_version(deps, tenant_id, request.prompt_version_id)
    elif request.tag is not None:
        assert request.prompt is not None
        version = await registry.tagged_version(deps, tenant_id, request.prompt, request.tag)
    else:
        assert request.prompt is not None
        version = await registry.latest_version(deps, tenant_id, request.prompt)
    return version_target(version)


def version_target(version: VersionRecord) -> JobTarget:
    """The provider, model and options of a version; 422 for what no job can run."""
    data = version.data
    model_provider = str(data["model_provider"])
    provider = PROVIDERS.get(model_provider)
    if provider is None:
        raise Unprocessable(
            "unsupported_provider",
            f"prompt version {version.version_id} uses model_provider {model_provider}, which "
            f"PromptForge does not run; use one of {', '.join(PROVIDERS)}",
            details={"supported": list(PROVIDERS)},
        )
    _check_template(version)
    kind = model_provider.lower()
    params: dict[str, Any] = data["invocation_parameters"].get(kind, {})
    max_tokens = params.get(_MAX_TOKENS[kind], params.get("max_completion_tokens"))
    stop = params.get(_STOP[kind])
    return JobTarget(
        provider,
        str(data["model_name"]),
        GenerationParams(
            temperature=_float(params.get("temperature")),
            max_tokens=max_tokens,
            top_p=_float(params.get("top_p")),
            stop=tuple(stop) if stop is not None else None,
            seed=params.get("seed"),
            response_format=data.get("response_format"),
            tools=data.get("tools"),
            prompt_version_id=version.version_id,
        ),
    )


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _check_template(version: VersionRecord) -> None:
    """422 ``unsupported_template`` unless the template renders to a chat a job can send."""
    try:
        template = Template.of(version.data)
        sample = template.render(dict.fromkeys(template.variables(), "x"))
    except TemplateProblem as exc:
        raise Unprocessable("unsupported_template", exc.message) from exc
    problem = parse_messages([message.to_dict() for message in sample])
    if not isinstance(problem, tuple):
        raise Unprocessable(
            "unsupported_template", f"prompt version {version.version_id}: {problem.message}"
        )


async def line_validator(deps: Deps, tenant_id: str, params: GenerationParams) -> LineValidator:
    """How a job's lines are read: rows of variables for a prompt version, else prompts."""
    if params.prompt_version_id is None:
        return validate_line
    version = await registry.get_version(deps, tenant_id, params.prompt_version_id)
    return RowReader(Template.of(version.data)).validate


async def version_reader(
    deps: Deps, tenant_id: str, version_id: str
) -> tuple[JobTarget, LineValidator]:
    """A version's target and row reader, for validating a file before any job exists."""
    version = await registry.get_version(deps, tenant_id, version_id)
    target = version_target(version)
    return target, RowReader(Template.of(version.data)).validate


@dataclass(frozen=True)
class RowReader:
    """Reads ``{prompt_id, variables}`` rows: rendered into a ``messages`` line, then judged."""

    template: Template

    def validate(self, raw: RawLine, max_line_bytes: int) -> Verdict | None:
        """The row's verdict: its rendered prompt, or why it has none (None: a blank line)."""
        value = _object(raw)
        if not isinstance(value, dict):
            return validate_line(raw, max_line_bytes)  # its own error, or a blank line
        prompt_id = value.get("prompt_id")
        named = prompt_id if isinstance(prompt_id, str) else None
        if "variables" not in value:
            verdict = validate_line(raw, max_line_bytes)
            if isinstance(verdict, LineError) and verdict.code in _PROMPT_ID_CODES:
                return verdict
            return LineError(
                raw.number,
                "missing_variables",
                'a row of a prompt version is {"prompt_id": ..., "variables": {...}}',
                named,
            )
        if "prompt" in value or "messages" in value:
            return LineError(
                raw.number,
                "prompt_and_variables",
                'a row of a prompt version has "variables", not "prompt" or "messages"',
                named,
            )
        variables = value.pop("variables")
        if not isinstance(variables, dict) or not all(
            isinstance(item, str) for item in variables.values()
        ):
            return LineError(
                raw.number,
                "invalid_variables",
                '"variables" must be an object of strings (name → value)',
                named,
            )
        try:
            messages = self.template.render(variables)
        except TemplateProblem as exc:
            return LineError(raw.number, exc.code, exc.message, named)
        value["messages"] = [message.to_dict() for message in messages]
        rendered = json.dumps(value, ensure_ascii=False).encode()
        return validate_line(RawLine(raw.number, rendered), max_line_bytes)


def _object(raw: RawLine) -> object:
    if raw.too_long:
        return None
    try:
        return json.loads(raw.data)
    except (ValueError, RecursionError):
        return None
