"""Settings of the Google Cloud runtime: the shared ``Settings`` plus where each Google resource is.

Read once per function instance at cold start from ``PROMPTFORGE_*`` environment
variables (Terraform sets them on each function), then passed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from promptforge.settings import Settings

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
"""Google's public keys (PEM certificates by key id) for the OIDC tokens Cloud Tasks sends."""

GCS_ENDPOINT = "https://storage.googleapis.com"
"""The host V4 signed URLs point at in production."""


class GcpSettings(Settings):
    """Everything a PromptForge function needs to find its Google resources."""

    gcp_project: str = Field(description="Project id of the Firestore, GCS and Cloud Tasks data.")
    gcp_region: str = Field("us-central1", description="Region of the functions and queues.")
    input_bucket: str = Field(description="Bucket users upload their prompt files to.")
    output_bucket: str = Field(description="Bucket the result shards are written to.")
    firestore_database: str = Field("(default)", description="Firestore database id.")
    firestore_prefix: str = Field("pf", description="Prefix of the Firestore collection names.")
    retention_days: int = Field(
        7,
        ge=1,
        le=3650,
        description="Days a finished job's Firestore documents are kept (their TTL): the output "
        "bucket's lifecycle age, so a job's record and its result files go together.",
    )
    tasks_location: str | None = Field(
        None, description="Cloud Tasks location of the queues (default: gcp_region)."
    )
    worker_url: str = Field(description="URL of the worker function (prompt tasks go there).")
    controller_url: str = Field(
        description="URL of the controller function (ingest, slice, finalize, expiry, control)."
    )
    tasks_service_account: str | None = Field(
        None,
        description="Service account whose OIDC token Cloud Tasks attaches to every task; "
        "unset only against the Cloud Tasks emulator.",
    )
    chunk_prompts: int = Field(
        100,
        ge=1,
        le=500,
        description="Prompts per worker task: one task, request and checkpointed record per "
        "chunk, not per prompt (docs/scale.md).",
    )
    queue_apply_delay: float = Field(
        5.0,
        ge=0,
        le=60,
        description="Seconds before an UpdateQueue rate reaches Cloud Tasks' dispatcher; workers "
        "defer dispatches above the decided rate until then.",
    )
    queue_rate_step: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="UpdateQueue only when the rate moved by this share of the rate the queue "
        "has (Cloud Tasks rate-limits admin calls; see docs/rate-control.md).",
    )
    queue_retire_after: float = Field(
        3600.0,
        ge=0,
        description="Seconds a rate key stays idle before its queues are deleted (Cloud Tasks "
        "allows 1,000 queues per region; the next job on the key gets new ones).",
    )
    secret_prefix: str = Field(
        "promptforge", description="Secret Manager ids are {prefix}-{provider}-api-key."
    )
    provider_keys_from: Literal["secret-manager", "environment"] = Field(
        "secret-manager",
        description="Where the worker reads provider keys; 'environment' (the "
        "PROMPTFORGE_<PROVIDER>_API_KEY settings) is for local stand-ins only.",
    )
    signing_service_account: str | None = Field(
        None,
        description="Service account that signs URLs through IAM signBlob "
        "(default: the function's own service account).",
    )
    signing_key_file: Path | None = Field(
        None,
        description="A service-account JSON key that signs URLs locally instead of IAM "
        "signBlob (tests and local stand-ins; never deploy a key file).",
    )
    storage_signing_endpoint: str = Field(
        GCS_ENDPOINT, description="Scheme and host that signed URLs point at."
    )
    tasks_emulator_host: str | None = Field(
        None, description="host:port of a Cloud Tasks emulator (plain gRPC, no credentials)."
    )
    oidc_verify: bool = Field(
        True,
        description="Verify the OIDC token on worker and controller calls. TEST ONLY: false "
        "accepts unauthenticated calls (the Cloud Tasks emulator sends no token).",
    )
    oidc_certs_url: str = Field(GOOGLE_CERTS_URL, description="Where the token keys are.")
    k_service: str | None = Field(
        None,
        validation_alias="K_SERVICE",
        description="Set by Cloud Run on every deployed function: the front end has checked the "
        "token's signature and removed it, so the function checks the claims only.",
    )
    ingest_slice_lines: int = Field(
        1000, ge=1, description="Input lines per slice task of the hierarchical fan-out."
    )
    # A prompt travels inside its task, and a Cloud Tasks HTTP task holds at most 1 MB:
    # longer lines are refused at ingest (``line_too_long``) instead of failing to enqueue.
    max_line_bytes: int = Field(
        900_000, ge=1024, le=1_000_000, description="Longest accepted input line."
    )

    @model_validator(mode="after")
    def _cloud_run_checks_tokens(self) -> GcpSettings:
        if self.k_service and not self.oidc_verify:
            raise ValueError(
                "PROMPTFORGE_OIDC_VERIFY=false is for local emulators only; a function on "
                "Cloud Run (K_SERVICE is set) always checks the token's claims"
            )
        if self.k_service and not self.tasks_service_account:
            raise ValueError(
                "set PROMPTFORGE_TASKS_SERVICE_ACCOUNT: on Cloud Run (K_SERVICE is set) the "
                "function accepts task tokens of that account only"
            )
        return self

    @property
    def queue_location(self) -> str:
        """The Cloud Tasks location."""
        return self.tasks_location or self.gcp_region


FunctionRole = Literal["api", "ingest", "worker", "controller"]
"""Which of the four functions an instance is."""
