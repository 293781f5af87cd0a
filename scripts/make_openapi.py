"""Writes shared/promptforge/data/openapi.json: the API's OpenAPI 3.1 document.

Kept as Python so the error codes and schemas are written once; run it after changing the API
(`make openapi`); a test fails when the committed file is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from promptforge.api.ratelimit import DEFAULT_LIMITS, INIT, RESULTS, STATUS, VALIDATE
from promptforge.core.validate import ValidationReport

OUT = Path(__file__).resolve().parent.parent / "shared/promptforge/data/openapi.json"


def _error(description: str, codes: list[str]) -> dict[str, Any]:
    return {
        "description": f"{description} Codes: {', '.join(codes)}.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


AUTH_401 = _error("Missing, unknown or revoked X-API-Key.", ["missing_api_key", "invalid_api_key"])


def _rate_limited(limit: str) -> dict[str, Any]:
    """The 429 of an endpoint with a per-key request limit."""
    response = _error(
        f"Too many requests with this API key: {limit}. Wait Retry-After seconds.",
        ["rate_limited"],
    )
    response["headers"] = {
        "Retry-After": {
            "description": "Seconds until the key's next request to this endpoint is allowed.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    return response


JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
    "description": "The job_id returned by /v1/jobs/init.",
}
JOB_400 = _error("The job id is not a UUID.", ["invalid_job_id"])
JOB_404 = _error(
    "No such job for this API key (another tenant's job looks the same).", ["job_not_found"]
)

RESULTS_PAGE_PARAMS = [
    {
        "name": "page_size",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000},
        "description": "Files per page (URLs are signed for the page only).",
    },
    {
        "name": "page_token",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The next_page_token of the previous page.",
    },
]
RESULTS_400 = _error(
    "The job id is not a UUID, or page_size or page_token is not valid.",
    ["invalid_job_id", "invalid_page_size", "invalid_page_token"],
)

TIME = {"type": ["string", "null"], "format": "date-time"}

BLOB_PARAMS = [
    {"name": "bucket", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
    *(
        {"name": name, "in": "query", "required": required, "schema": {"type": "string"}}
        for name, required in (
            ("X-PF-Method", True),
            ("X-PF-Expires", True),
            ("X-PF-Content-Type", False),
            ("X-PF-Key", False),
            ("X-PF-Signature", True),
        )
    ),
]
BLOB_NAME_CODES = ["invalid_bucket_name", "invalid_object_name", "invalid_content_length"]
SIGNATURE_CODES = [
    "missing_signature",
    "malformed_signature",
    "signature_mismatch",
    "signing_key_changed",
    "method_not_allowed",
    "url_expired",
    "content_type_mismatch",
]


def _limit(endpoint: str) -> str:
    """An endpoint's per-key limit in words, from the limiter's own table."""
    limit = DEFAULT_LIMITS[endpoint]
    return f"{limit.per_minute} a minute, bursts of {limit.burst}"


INIT_LIMIT, STATUS_LIMIT, RESULTS_LIMIT = _limit(INIT), _limit(STATUS), _limit(RESULTS)


def _model_schemas() -> dict[str, Any]:
    """The response models' JSON schemas, from the pydantic models the handlers return."""
    schema = ValidationReport.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {**defs, "ValidationReport": schema}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "status"],
                "properties": {
                    "code": {"type": "string", "description": "Machine-readable error code."},
                    "message": {
                        "type": "string",
                        "description": "What went wrong and what to fix.",
                    },
                    "status": {"type": "integer"},
                    "details": {"type": "object"},
                },
            }
        },
    },
    "InitRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["provider", "model"],
        "properties": {
            "provider": {"type": "string", "enum": ["openai", "anthropic", "gemini", "mistral"]},
            "model": {"type": "string", "minLength": 1, "maxLength": 200, "example": "gpt-4o-mini"},
            "max_retries": {
                "type": "integer",
                "minimum": 0,
                "maximum": 20,
                "default": 3,
                "description": "Retries per prompt on transient errors (5xx, 529, timeouts). 429s never count.",
            },
            "rpm": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000000,
                "description": "Requests-per-minute ceiling; omit to let PromptForge discover the limit.",
            },
            "tpm": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1000000000,
                "description": "Tokens-per-minute ceiling; omit to let PromptForge discover the limit.",
            },
            "system": {
                "type": "string",
                "maxLength": 60000,
                "description": "System prompt for every prompt of the job.",
            },
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "max_tokens": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1000000,
                "description": "Output token cap (max_completion_tokens for OpenAI; Anthropic defaults to 1024).",
            },
            "top_p": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "stop": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
            "seed": {
                "type": "integer",
                "minimum": -9223372036854775808,
                "maximum": 9223372036854775807,
                "description": "A 64-bit integer.",
            },
            "webhook_url": {
                "type": "string",
                "maxLength": 2048,
                "pattern": "^https?://[^\\s]+$",
                "description": "Where to POST a signed Standard Webhooks event (job.completed, "
                "job.failed, job.cancelled) when the job ends. It must resolve to a public "
                "address. The answer then carries webhook_secret.",
            },
            "response_format": {
                "description": "Ask for JSON output where the provider supports it.",
                "oneOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type"],
                        "properties": {"type": {"const": "json_object"}},
                    },
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "json_schema"],
                        "properties": {
                            "type": {"const": "json_schema"},
                            "json_schema": {
                                "type": "object",
                                "required": ["name", "schema"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string", "minLength": 1, "maxLength": 64},
                                    "schema": {"type": "object"},
                                    "strict": {"type": "boolean"},
                                    "description": {"type": "string"},
                                },
                            },
                        },
                    },
                ],
            },
        },
    },
    "InitResponse": {
        "type": "object",
        "required": ["job_id", "upload_url", "expires_at"],
        "properties": {
            "job_id": {"type": "string", "format": "uuid"},
            "upload_url": {
                "type": "string",
                "description": "Pre-signed URL: PUT the JSONL file here (Content-Type: application/octet-stream, no auth header). Expires in 15 minutes.",
            },
            "expires_at": {"type": "string", "format": "date-time"},
            "webhook_secret": {
                "type": "string",
                "description": "Only when webhook_url was given, and only in this answer: the "
                "whsec_ secret that signs the job's webhooks (verify with any Standard "
                "Webhooks library).",
            },
        },
    },
    "JobStatus": {
        "type": "object",
        "required": [
            "job_id",
            "status",
            "prompt_count",
            "completed_count",
            "failed_count",
            "created_at",
            "started_processing_at",
            "completed_at",
        ],
        "properties": {
            "job_id": {"type": "string", "format": "uuid"},
            "status": {
                "type": "string",
                "enum": ["WAITING_FOR_UPLOAD", "PROCESSING", "COMPLETED", "FAILED"],
            },
            "prompt_count": {
                "type": "integer",
                "description": "Non-blank input lines seen so far (valid or not).",
            },
            "completed_count": {"type": "integer", "description": "Prompts with a result line."},
            "failed_count": {
                "type": "integer",
                "description": "Lines with an error line in errors.jsonl.",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "started_processing_at": TIME,
            "completed_at": TIME,
            "provider": {"type": "string"},
            "model": {"type": "string"},
            "ingest_complete": {"type": "boolean", "description": "The whole file has been read."},
            "tokens_used": {"type": "integer"},
            "input_tokens": {"type": "integer"},
            "output_tokens": {"type": "integer"},
            "estimated_cost_usd": {
                "type": ["number", "null"],
                "description": "From the model catalogue's list prices.",
            },
            "dispatch_rate_rpm": {
                "type": ["number", "null"],
                "description": "The rate PromptForge currently sends at.",
            },
            "upload_expires_at": TIME,
            "error": {
                "type": ["object", "null"],
                "description": "Why the job FAILED: {code, message}.",
            },
        },
    },
    "JobResults": {
        "type": "object",
        "required": ["job_id", "status", "files"],
        "properties": {
            "job_id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["COMPLETED", "FAILED"]},
            "files": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["filename", "url", "expires_at"],
                    "properties": {
                        "filename": {"type": "string", "example": "results_part_001.jsonl"},
                        "url": {
                            "type": "string",
                            "description": "Signed GET URL, valid 60 minutes.",
                        },
                        "expires_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "next_page_token": {
                "type": "string",
                "description": "Present when more files follow: pass it as page_token.",
            },
        },
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "PromptForge API",
        "version": "1.0.0",
        "description": "Run large batches of LLM prompts. Create a job, PUT a JSONL file to its signed URL, poll status, download sharded results.",
    },
    "components": {
        "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        "schemas": {**SCHEMAS, **_model_schemas()},
    },
    "paths": {
        "/v1/jobs/init": {
            "post": {
                "operationId": "initJob",
                "summary": "Create a job and get a signed upload URL",
                "security": [{"ApiKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/InitRequest"}}
                    },
                },
                "responses": {
                    "202": {
                        **_ok(
                            "Job created; upload the file to upload_url within 15 minutes.",
                            "InitResponse",
                        ),
                        "links": {
                            "status": {
                                "operationId": "jobStatus",
                                "parameters": {"job_id": "$response.body#/job_id"},
                                "description": "Poll the new job's status.",
                            },
                            "results": {
                                "operationId": "jobResults",
                                "parameters": {"job_id": "$response.body#/job_id"},
                                "description": "List the job's files once it has finished.",
                            },
                        },
                    },
                    "400": _error(
                        "Malformed JSON (or nested over 64 levels), a missing, unknown or wrongly typed field, or a webhook_url that is unusable or not public.",
                        [
                            "malformed_json",
                            "missing_field",
                            "unknown_field",
                            "invalid_field",
                            "invalid_webhook_url",
                            "private_webhook_url",
                        ],
                    ),
                    "401": AUTH_401,
                    "413": _error("Body larger than 64 KiB.", ["body_too_large"]),
                    "415": _error(
                        "The body is labelled with a Content-Type other than JSON.",
                        ["unsupported_media_type"],
                    ),
                    "429": _rate_limited(INIT_LIMIT),
                    "507": _error(
                        "The server's disk is full; retry later.", ["insufficient_storage"]
                    ),
                    "422": _error(
                        "Unsupported provider, model or option.",
                        ["unsupported_provider", "unsupported_model", "unsupported_option"],
                    ),
                },
            }
        },
        "/v1/jobs/{job_id}/status": {
            "get": {
                "operationId": "jobStatus",
                "summary": "A job's progress",
                "security": [{"ApiKey": []}],
                "parameters": [JOB_ID],
                "responses": {
                    "200": _ok("The job's status.", "JobStatus"),
                    "400": JOB_400,
                    "401": AUTH_401,
                    "404": JOB_404,
                    "429": _rate_limited(STATUS_LIMIT),
                },
            }
        },
        "/v1/jobs/{job_id}/results": {
            "get": {
                "operationId": "jobResults",
                "summary": "Signed download URLs of a finished job's files",
                "security": [{"ApiKey": []}],
                "parameters": [JOB_ID, *RESULTS_PAGE_PARAMS],
                "responses": {
                    "200": _ok(
                        "results_part_NNN.jsonl files and errors.jsonl, each with a URL valid 60 minutes.",
                        "JobResults",
                    ),
                    "400": RESULTS_400,
                    "401": AUTH_401,
                    "404": JOB_404,
                    "409": _error("The job is not COMPLETED or FAILED yet.", ["job_not_finished"]),
                    "429": _rate_limited(RESULTS_LIMIT),
                },
            }
        },
        "/v1/jobs/validate": {
            "post": {
                "operationId": "validateFile",
                "summary": "Check a JSONL file as ingest would, without creating a job",
                "security": [{"ApiKey": []}],
                "parameters": [
                    {
                        "name": name,
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                        "description": f"The {name} the job would run on.",
                    }
                    for name in ("provider", "model")
                ],
                "requestBody": {
                    "required": False,
                    "description": "The JSONL file, sent as it is (any content type); an empty or absent one is reported as empty_file.",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "responses": {
                    "200": _ok(
                        "Every problem a job of this file would meet (valid: false if any); "
                        "an unknown provider or model is one of them, with line null.",
                        "ValidationReport",
                    ),
                    "400": _error(
                        "provider or model missing from the query, or another parameter in it.",
                        ["missing_parameter", "unknown_parameter"],
                    ),
                    "401": AUTH_401,
                    "413": _error("Larger than the upload limit.", ["body_too_large"]),
                    "429": _rate_limited(_limit(VALIDATE)),
                },
            }
        },
        "/blobs/{bucket}/{name}": {
            "parameters": BLOB_PARAMS,
            "put": {
                "operationId": "uploadBlob",
                "summary": "Upload the job's JSONL file to its signed upload_url (embedded runtime)",
                "description": "Use the upload_url from /v1/jobs/init exactly as given; no X-API-Key. "
                "On the Google runtime the upload_url is a Cloud Storage V4 signed URL instead.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Stored; ingest starts.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "bucket": {"type": "string"},
                                        "name": {"type": "string"},
                                        "size": {"type": "integer"},
                                        "generation": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("Bad bucket or object name, or Content-Length.", BLOB_NAME_CODES),
                    "403": _error("The signed URL was refused.", SIGNATURE_CODES),
                    "405": _error(
                        "Blob URLs accept GET, HEAD and PUT only.", ["method_not_allowed"]
                    ),
                    "404": _error(
                        "Not a blob URL (an object name with a line break matches no route).",
                        ["not_found"],
                    ),
                    "409": _error(
                        "The file was already uploaded (an upload URL works once), or the "
                        "object name is taken by a folder.",
                        ["upload_exists", "object_name_conflict"],
                    ),
                    "413": _error("Larger than the upload limit.", ["upload_too_large"]),
                    "500": _error(
                        "The file was stored but its processing could not be started; PUT "
                        "again to retry.",
                        ["upload_not_reported"],
                    ),
                    "507": _error(
                        "The server's disk is full; the partial file was dropped.",
                        ["insufficient_storage"],
                    ),
                },
            },
            "get": {
                "operationId": "downloadBlob",
                "summary": "Download a result file from its signed URL (embedded runtime)",
                "responses": {
                    "200": {
                        "description": "The file, streamed.",
                        "content": {
                            "application/x-ndjson": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "400": _error("Bad bucket or object name.", BLOB_NAME_CODES),
                    "403": _error("The signed URL was refused.", SIGNATURE_CODES),
                    "404": _error(
                        "No such object, or not a blob URL at all.",
                        ["object_not_found", "not_found"],
                    ),
                    "405": _error(
                        "Blob URLs accept GET, HEAD and PUT only.", ["method_not_allowed"]
                    ),
                },
            },
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness",
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": {"description": "The OpenAPI document."}},
            }
        },
    },
}


def render() -> str:
    """The document as committed."""
    return json.dumps(SPEC, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {OUT}\n")
