"""The batch formats' bodies as pydantic models, for the OpenAPI document and the checks.

They follow the shapes the official ``openai`` and ``anthropic`` SDKs send and parse;
fields PromptForge does not read are allowed and ignored (docs/compat.md lists them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class OpenAIFile(_Open):
    """OpenAI's file object."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str | None = None


class OpenAIFileDeleted(_Open):
    """OpenAI's answer to a file deletion."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool


class OpenAIBatchCreate(BaseModel):
    """``POST /v1/batches``; ``job_name`` is seed 003's addition."""

    model_config = ConfigDict(extra="ignore")
    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = None
    job_name: str | None = Field(None, min_length=1, max_length=256)


class OpenAIBatch(_Open):
    """OpenAI's batch object."""

    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    input_file_id: str
    completion_window: str
    status: str
    created_at: int
    request_counts: dict[str, int]
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


class OpenAIBatchList(_Open):
    """A page of batches."""

    object: Literal["list"] = "list"
    data: list[OpenAIBatch]
    first_id: str | None
    last_id: str | None
    has_more: bool


class OpenAIListQuery(BaseModel):
    """``GET /v1/batches`` query."""

    limit: int = Field(20, ge=1, le=100)
    after: str | None = None


class AnthropicBatchCreate(BaseModel):
    """``POST /v1/messages/batches``: the requests, each ``{custom_id, params}``."""

    requests: list[dict[str, Any]] = Field(min_length=1)


class AnthropicBatch(_Open):
    """Anthropic's message batch object."""

    id: str
    type: Literal["message_batch"] = "message_batch"
    processing_status: str
    request_counts: dict[str, int]
    created_at: str
    expires_at: str
    ended_at: str | None = None
    cancel_initiated_at: str | None = None
    archived_at: str | None = None
    results_url: str | None = None


class AnthropicBatchList(_Open):
    """A page of message batches."""

    data: list[AnthropicBatch]
    has_more: bool
    first_id: str | None
    last_id: str | None


class AnthropicBatchDeleted(_Open):
    """Anthropic's answer to a batch deletion."""

    id: str
    type: Literal["message_batch_deleted"] = "message_batch_deleted"


class AnthropicListQuery(BaseModel):
    """``GET /v1/messages/batches`` query."""

    limit: int = Field(20, ge=1, le=1000)
    after_id: str | None = None
    before_id: str | None = None


class OpenAIErrorDetail(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIError(BaseModel):
    """OpenAI's error body: ``{"error": {message, type, param, code}}``."""

    error: OpenAIErrorDetail


class AnthropicErrorDetail(BaseModel):
    """Anthropic's error object."""

    type: str
    message: str


class AnthropicError(BaseModel):
    """Anthropic's error body: ``{"type": "error", "error": {type, message}}``."""

    type: Literal["error"]
    error: AnthropicErrorDetail
