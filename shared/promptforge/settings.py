"""Settings read once at start-up from ``PROMPTFORGE_*`` environment variables, then passed in."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from promptforge.blobstore.signing import MIN_SECRET_BYTES


class Settings(BaseSettings):
    """Everything an operator can configure. Nothing reads the environment after this."""

    model_config = SettingsConfigDict(env_prefix="PROMPTFORGE_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the embedded runtime keeps its state.")
    host: str = Field("127.0.0.1", description="Address `promptforge serve` binds.")
    port: int = Field(8080, description="Port `promptforge serve` binds.")
    public_url: str | None = Field(
        None, description="Base URL clients use to reach the server (default http://host:port)."
    )
    signing_secret: SecretStr | None = Field(
        None, description="HMAC key for signed URLs; generated into data_dir if unset."
    )
    upload_url_ttl: int = Field(900, ge=1, le=7 * 86400, description="Upload URL lifetime (s).")
    results_url_ttl: int = Field(3600, ge=60, le=7 * 86400, description="Result URL lifetime (s).")
    lines_per_part: int = Field(
        10_000, ge=1, description="Input lines per results_part file and per finalize step."
    )
    max_upload_bytes: int = Field(5 * 1024**3, ge=1, description="Largest accepted upload.")
    max_line_bytes: int = Field(1_000_000, ge=1024, description="Longest accepted input line.")
    provider_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds before a provider call times out (the SDKs wait 600 s; a long "
        "completion or a reasoning model can take minutes). Keep it under lease_seconds.",
    )
    lease_seconds: float = Field(600.0, gt=0, description="How long a worker owns a prompt.")
    initial_rate: float = Field(1.0, gt=0, description="Slow-start dispatch rate (requests/s).")
    max_concurrent_dispatches: int = Field(1000, ge=1, le=5000, description="Per rate-key queue.")
    control_period: float = Field(2.0, gt=0, description="Seconds between controller steps.")
    key_peak_rate: float = Field(
        450.0,
        gt=0,
        le=2000,
        description="Requests/s a rate key may need when no job gives an rpm ceiling: sizes "
        "its queues (450/s a queue, under Cloud Tasks' 500/s). Raise it for provider quotas "
        "above 27,000 RPM; a job's rpm sizes them itself.",
    )
    chunk_prompts: int = Field(
        1,
        ge=1,
        le=500,
        description="Prompts per worker task (core/chunks.py; the embedded runtime: 1, one "
        "task per prompt; Google: 100, docs/scale.md).",
    )
    queue_apply_delay: float = Field(
        0.0,
        ge=0,
        le=60,
        description="Seconds before a changed queue rate reaches the dispatcher (the embedded "
        "dispatcher: 0; Cloud Tasks: a few). Above 0, workers defer dispatches the controller "
        "no longer wants until the queue has caught up.",
    )
    queue_rate_step: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Relative move of the decided rate below which the queues are not updated "
        "(the embedded dispatcher: 0, every change; Cloud Tasks: 0.1).",
    )
    webhook_allow_private: bool = Field(
        False,
        description="Let webhook URLs reach private, loopback and link-local addresses. TEST "
        "ONLY (a receiver on 127.0.0.1): otherwise such URLs are refused at init and at send "
        "time, so a job cannot make PromptForge call into its own network.",
    )
    models_file: Path | None = Field(None, description="Extra model catalogue entries (JSON).")
    secrets_file: Path | None = Field(
        None, description="JSON file of provider credentials: {provider: {api_key, base_url}}."
    )
    openai_api_key: SecretStr | None = None
    anthropic_api_key: SecretStr | None = None
    gemini_api_key: SecretStr | None = None
    mistral_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    anthropic_base_url: str | None = None
    gemini_base_url: str | None = None
    mistral_base_url: str | None = None
    fault_duplicate_delivery: str = Field(
        "",
        description="TEST ONLY fault injection (the fault suite sets it; never in production): "
        "task targets, comma-separated, or 'all', whose every delivery the embedded "
        "dispatcher hands to the handler three times: twice at once, then once more after "
        "both answered, as an at-least-once queue may.",
    )

    @model_validator(mode="after")
    def _signing_secret_long_enough(self) -> Settings:
        """A short HMAC key makes signed URLs guessable: refuse it with what to set instead."""
        secret = self.signing_secret
        if secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"PROMPTFORGE_SIGNING_SECRET is {len(secret.get_secret_value().encode())} "
                f"bytes; it needs at least {MIN_SECRET_BYTES} (e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`), or unset it to "
                "have one generated into the data directory"
            )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_call(self) -> Settings:
        """A worker's lease must outlast its provider call, or a second delivery could call too."""
        if self.provider_timeout >= self.lease_seconds:
            raise ValueError(
                f"PROMPTFORGE_PROVIDER_TIMEOUT ({self.provider_timeout:g} s) must be shorter than "
                f"PROMPTFORGE_LEASE_SECONDS ({self.lease_seconds:g} s): a prompt's lease has to "
                "outlast its provider call"
            )
        return self

    @property
    def base_url(self) -> str:
        """The URL clients reach this server at."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
