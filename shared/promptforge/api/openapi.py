"""The OpenAPI 3.1 document, generated from ``api.routes.API_OPERATIONS`` and its models.

Nothing here describes a field: schemas come from the pydantic models the handlers parse
and render (``models_json_schema``), parameters from the query models' fields, error
answers from each operation's ``Failure`` list, limits from ``api.throttle``. Run
``python -m promptforge.api.openapi`` (``make openapi``) to print it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from promptforge.api.bodies import MAX_JOB_ID_CHARS
from promptforge.api.operations import Failure, Operation
from promptforge.api.routes import API_OPERATIONS
from promptforge.api.schemas import ErrorBody, Health
from promptforge.api.throttle import DEFAULT_LIMITS
from promptforge.core.idempotency import MAX_IDEMPOTENCY_KEY_CHARS

REF = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]
Refs = Mapping[tuple[Any, Mode], dict[str, Any]]
"""The ``$ref`` of each (model, mode) the document uses."""

_META: tuple[Operation, ...] = (
    Operation("GET", "/healthz", "health", "Liveness", None, Health, authenticated=False),
    Operation("GET", "/openapi.json", "openapi", "This document", None, None, authenticated=False),
)
_AUTH = Failure(
    401,
    "Missing, unknown or revoked API key (send it as X-API-Key or Authorization: Bearer).",
    ("missing_api_key", "invalid_api_key"),
)
_PATH_PARAMS: dict[str, dict[str, Any]] = {
    "job_id": {
        "type": "string",
        "format": "uuid",
        "maxLength": MAX_JOB_ID_CHARS,
        "description": "The job_id returned by /v1/jobs/init.",
    },
    "bucket": {"type": "string"},
    "name": {"type": "string"},
    "name_or_id": {
        "type": "string",
        "maxLength": 200,
        "description": "A prompt's name or its id (prm_...).",
    },
    "version_id": {"type": "string", "maxLength": 200, "description": "A prompt version's id."},
    "tag": {"type": "string", "maxLength": 200, "description": "A tag's name."},
    "file_id": {"type": "string", "description": "A file id from POST /v1/files."},
    "batch_id": {"type": "string", "description": "A batch id from creating the batch."},
}


def openapi_document(operations: tuple[Operation, ...] = API_OPERATIONS) -> dict[str, Any]:
    """The whole document for ``operations`` (and ``/healthz``, ``/openapi.json``)."""
    everything = (*operations, *_META)
    pairs = _model_pairs(everything)
    refs, definitions = models_json_schema(pairs, ref_template=REF)
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in everything:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PromptForge API",
            "version": "1.0.0",
            "description": "Run large batches of LLM prompts. Create a job, PUT a JSONL file "
            "to its signed URL, poll status, download sharded results; list, cancel and "
            "validate jobs.",
        },
        "components": {
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": schemas,
        },
        "paths": paths,
    }


def _model_pairs(operations: tuple[Operation, ...]) -> list[tuple[type[BaseModel], Mode]]:
    pairs: dict[tuple[type[BaseModel], Mode], None] = {(ErrorBody, "serialization"): None}
    for op in operations:
        if op.body is not None:
            pairs[(op.body, "validation")] = None
        if op.response is not None:
            pairs[(op.response, "serialization")] = None
        if op.error_body is not None:
            pairs[(op.error_body, "serialization")] = None
    return list(pairs)


def _operation(
    op: Operation,
    refs: Refs,
    schemas: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    if op.authenticated:
        out["security"] = [{"ApiKey": []}, {"Bearer": []}]
    parameters = _parameters(op, schemas)
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        content = {"application/json": {"schema": refs[(op.body, "validation")]}}
        out["requestBody"] = {"required": True, "content": content}
    elif op.raw_body is not None:
        content = {op.raw_body: {"schema": {"type": "string", "format": "binary"}}}
        out["requestBody"] = {"required": not op.body_optional, "content": content}
    out["responses"] = _responses(op, refs)
    return out


def _parameters(op: Operation, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _PATH_PARAMS[name]}
        for name in _path_names(op.path)
    ]
    for header, description in op.headers:
        schema = {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS}
        parameters.append(
            {"name": header, "in": "header", "required": False, "description": description}
            | {"schema": schema}
        )
    if op.query is not None:
        model_schema = op.query.model_json_schema(ref_template=REF)
        schemas.update(model_schema.pop("$defs", {}))
        required = set(model_schema.get("required", ()))
        for name, schema in model_schema["properties"].items():
            field = _not_null(schema)
            description = field.pop("description", None)
            field.pop("title", None)
            parameter = {"name": name, "in": "query", "required": name in required, "schema": field}
            if description:
                parameter["description"] = description
            parameters.append(parameter)
    return parameters


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without ``null`` (a query string has no null: it is absent)."""
    field = dict(schema)
    options = [option for option in field.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        field.update(options[0])
    elif options:
        field["anyOf"] = options
    if field.get("default", 0) is None:
        del field["default"]
    return field


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _responses(op: Operation, refs: Refs) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if op.response is not None:
        content["application/json"] = {"schema": refs[(op.response, "serialization")]}
    if op.streams is not None:
        content[op.streams] = {"schema": {"type": "string"}}
    success: dict[str, Any] = {"description": op.response.__doc__ if op.response else op.summary}
    if content:
        success["content"] = content
    if op.links:
        success["links"] = op.links
    responses: dict[str, Any] = {str(op.status): success}
    failures = [*op.failures, *([_AUTH] if op.authenticated else [])]
    limited = op.limited and op.authenticated  # a limit is per API key
    if limited:
        failures.append(_rate_limited(op))
    for status, failure in sorted(_merged(failures).items()):
        responses[str(status)] = _error(failure, refs, op.error_body or ErrorBody)
    if limited:
        responses["429"]["headers"] = {
            "Retry-After": {
                "description": "Seconds until the key's next request to this operation is allowed.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return responses


def _rate_limited(op: Operation) -> Failure:
    limit = DEFAULT_LIMITS[op.label]
    return Failure(
        429,
        f"Too many requests with this API key: {limit.per_minute} a minute, bursts of "
        f"{limit.burst}. Wait Retry-After seconds.",
        ("rate_limited",),
    )


def _merged(failures: list[Failure]) -> dict[int, Failure]:
    """One failure per status: descriptions joined, codes in order without repeats."""
    merged: dict[int, Failure] = {}
    for failure in failures:
        earlier = merged.get(failure.status)
        if earlier is None:
            merged[failure.status] = failure
            continue
        codes = tuple(dict.fromkeys((*earlier.codes, *failure.codes)))
        merged[failure.status] = Failure(
            failure.status, f"{earlier.description} {failure.description}", codes
        )
    return merged


def _error(failure: Failure, refs: Refs, body: type[BaseModel]) -> dict[str, Any]:
    return {
        "description": f"{failure.description} Codes: {', '.join(failure.codes)}.",
        "content": {"application/json": {"schema": refs[(body, "serialization")]}},
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n")
