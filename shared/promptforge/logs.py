"""Logging: job and prompt ids on every line (from context variables), secrets redacted."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterable

job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
prompt_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "prompt_id", default=None
)

REDACTED = "[REDACTED]"


class RedactingFilter(logging.Filter):
    """Replaces every known secret in a record's message (and traceback) with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 8]

    def add(self, secret: str) -> None:
        """Redact one more secret from now on."""
        if len(secret) >= 8:
            self._secrets.append(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self._secrets:
            message = message.replace(secret, REDACTED)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, REDACTED)
        record.msg, record.args = message, ()
        record.job_id = job_id_var.get()
        record.prompt_id = prompt_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line with Cloud Logging's field names."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        entry: dict[str, object] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        for name in ("job_id", "prompt_id"):
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_text:
            entry["stack_trace"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: str = "INFO", *, secrets: Iterable[str] = (), as_json: bool = False
) -> RedactingFilter:
    """Install one stderr handler with redaction; returns the filter so callers can add secrets."""
    handler = logging.StreamHandler(sys.stderr)
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return redactor
