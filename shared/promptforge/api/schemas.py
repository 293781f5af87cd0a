"""The API's bodies and query strings as pydantic models: what handlers render and parse,
and what the OpenAPI document is generated from (``api.openapi``), so the two cannot drift.

Every JSON answer goes through its model (``render`` in ``api.app``): a field the code
adds without adding it here fails the response, not the document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from pydantic.types import JsonDict

from promptforge.core.manage import DEFAULT_PAGE, MAX_PAGE
from promptforge.core.models import JobStatus
from promptforge.core.service import RESULTS_PAGE_SIZE

DateTime = str
"""An RFC 3339 time in UTC (``2026-01-01T12:00:00Z``)."""

_TIME: JsonDict = {"format": "date-time"}
_UUID: JsonDict = {"format": "uuid"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Body):
    """What went wrong: a machine-readable code, a message that says what to fix."""

    code: str = Field(description="Machine-readable error code.")
    message: str = Field(description="What went wrong and what to fix.")
    status: int = Field(description="The HTTP status, repeated.")
    details: dict[str, object] | None = Field(None, description="Facts a client can act on.")


class ErrorBody(_Body):
    """Every error answer: ``{"error": {code, message, status, details?}}``."""

    error: ErrorDetail


class InitResponse(_Body):
    """A created job: PUT the JSONL file to ``upload_url`` before ``expires_at``."""

    job_id: str = Field(json_schema_extra=_UUID)
    upload_url: str = Field(
        description="Pre-signed URL: PUT the JSONL file here (Content-Type: "
        "application/octet-stream, no auth header)."
    )
    expires_at: DateTime = Field(json_schema_extra=_TIME)
    webhook_secret: str | None = Field(
        None,
        description="Present when webhook_url was given: the whsec_ secret that signs the "
        "job's webhook deliveries (Standard Webhooks). Keep it; it is not shown by status.",
    )


class JobErrorBody(_Body):
    """Why a job ``FAILED``."""

    code: str
    message: str


class JobStatusBody(_Body):
    """A job's progress and settings."""

    job_id: str = Field(json_schema_extra=_UUID)
    status: JobStatus
    prompt_count: int = Field(description="Non-blank input lines seen so far (valid or not).")
    completed_count: int = Field(description="Prompts with a result line.")
    failed_count: int = Field(
        description="Lines with an error line in errors.jsonl (cancelled prompts included)."
    )
    created_at: DateTime = Field(json_schema_extra=_TIME)
    started_processing_at: DateTime | None = Field(json_schema_extra=_TIME)
    completed_at: DateTime | None = Field(json_schema_extra=_TIME)
    provider: str
    model: str
    ingest_complete: bool = Field(description="The whole file has been read.")
    tokens_used: int
    input_tokens: int
    output_tokens: int
    estimated_cost_usd: float | None = Field(description="From the model catalogue's prices.")
    dispatch_rate_rpm: float | None = Field(description="The rate PromptForge now sends at.")
    upload_expires_at: DateTime | None = Field(json_schema_extra=_TIME)
    error: JobErrorBody | None = Field(description="Why the job FAILED.")
    name: str | None = Field(description="The name given at init.")
    metadata: dict[str, str] = Field(description="The metadata given at init.")
    webhook_url: str | None = Field(description="Where the job's end is announced.")
    cancel_requested_at: DateTime | None = Field(
        json_schema_extra=_TIME, description="When a cancel was asked, if one was."
    )
    # The cost cap (core.spend): all null for a job without max_cost_usd.
    max_cost_usd: float | None = Field(None, description="The cap given at init.")
    spent_usd: float | None = Field(
        None, description="What the answers so far cost at list prices (capped jobs)."
    )
    reserved_usd: float | None = Field(
        None, description="The worst case of the calls in flight, held against the cap."
    )
    stopped_reason: Literal["budget"] | None = Field(
        None, description='"budget" once the cap stopped the job from sending more prompts.'
    )
    # Rerun the failures, pay once for duplicates (core/retry.py, core/dedupe.py).
    parent_job_id: str | None = Field(
        None, description="The job whose failures this job re-runs (POST /v1/jobs/{id}/retry)."
    )
    dedupe: bool = Field(False, description="Identical requests are called once (init dedupe).")
    deduplicated_count: int = Field(
        0, description="Prompts answered with a copy of an identical request's answer."
    )


class RetryCreated(_Body):
    """The job created to re-run an ended job's failures (``POST /v1/jobs/{job_id}/retry``)."""

    job_id: str = Field(json_schema_extra=_UUID, description="The new job: poll its status.")
    parent_job_id: str = Field(json_schema_extra=_UUID, description="The job retried.")
    status: JobStatus
    retried_count: int = Field(description="Prompts the new job runs again.")
    codes: dict[str, int] = Field(description="How many of them failed with each code.")


class JobList(_Body):
    """One page of the caller's jobs, newest first."""

    data: list[JobStatusBody]
    has_more: bool = Field(description="More jobs follow: pass the last job_id as after=.")


class ResultFile(_Body):
    """One output file and its signed download URL."""

    filename: str = Field(examples=["results_part_001.jsonl"])
    url: str = Field(description="Signed GET URL.")
    expires_at: DateTime = Field(json_schema_extra=_TIME)


class JobResults(_Body):
    """The output files of an ended job."""

    job_id: str = Field(json_schema_extra=_UUID)
    status: Literal[JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED]
    files: list[ResultFile]
    next_page_token: str | None = Field(
        None, description="Present when more files follow: pass it as page_token."
    )


class BlobStored(_Body):
    """An upload stored (embedded runtime); ingest starts."""

    bucket: str
    name: str
    size: int
    generation: int


class Health(_Body):
    """Liveness."""

    status: Literal["ok"]


class ListQuery(BaseModel):
    """``GET /v1/jobs`` query string."""

    limit: int = Field(DEFAULT_PAGE, ge=1, le=MAX_PAGE, description="Jobs per page.")
    after: str | None = Field(
        None,
        max_length=45,
        description="A job_id: list the jobs older than it (the last job of the previous page).",
    )


class ResultsQuery(BaseModel):
    """``GET /v1/jobs/{job_id}/results`` query string."""

    page_size: int = Field(
        RESULTS_PAGE_SIZE,
        ge=1,
        le=RESULTS_PAGE_SIZE,
        description="Files per page of URLs (URLs are signed for the page only).",
    )
    page_token: str | None = Field(
        None, max_length=20, description="The next_page_token of the previous page."
    )
    output_type: Literal["urls", "stream"] = Field(
        "urls",
        description="urls: signed URLs of the files of an ended job. stream: every result "
        "line recorded so far, then every error line tagged type=error, as one NDJSON stream "
        "(allowed while the job runs).",
    )


class ValidateQuery(BaseModel):
    """``POST /v1/jobs/validate`` query string: the job the file is meant for (nothing else)."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(
        None, min_length=1, max_length=64, description="The provider the job would run on."
    )
    model: str | None = Field(
        None, min_length=1, max_length=200, description="The model it would run on."
    )
    prompt_version_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Instead of provider and model: the prompt version the rows are for "
        "(rows {prompt_id, variables}; a row missing a variable is reported).",
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="The max_tokens the job would run with, for the estimate's worst case "
        "(default: the model's output cap; a prompt version's own if it sets one).",
    )

    @model_validator(mode="after")
    def _one_target(self) -> ValidateQuery:
        if self.prompt_version_id is None and (self.provider is None or self.model is None):
            raise PydanticCustomError("missing", "give provider and model, or prompt_version_id")
        if self.prompt_version_id is not None and (self.provider or self.model):
            raise ValueError("prompt_version_id decides provider and model: give it alone")
        return self


class SignedUrlQuery(BaseModel):
    """The query of a signed blob URL: use the URL exactly as given."""

    model_config = ConfigDict(populate_by_name=True)

    method: str = Field(alias="X-PF-Method")
    expires: str = Field(alias="X-PF-Expires")
    content_type: str | None = Field(None, alias="X-PF-Content-Type")
    signature: str = Field(alias="X-PF-Signature")
