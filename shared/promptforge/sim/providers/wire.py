"""What every provider wire format provides, and the formatting helpers they share.

A wire format turns a raw request into a ``SimRequest`` (or refuses it with the
provider's own 4xx), says what the request costs against the limits, and renders
success, 429, 5xx and overload replies with the provider's exact bodies and headers.
"""

from __future__ import annotations

import abc
import json
import math
import random
import secrets
import string
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from promptforge.errors import PromptForgeError
from promptforge.sim.providers.limits import BucketView, Cost, LimitCheck, LimitKind
from promptforge.sim.providers.text import Completion, prompt_tokens

_BASE62 = string.ascii_letters + string.digits


@dataclass(frozen=True)
class SimRequest:
    """A parsed generation request: ``prompt`` (the last user text) identifies it."""

    model: str
    prompt: str
    messages: tuple[str, ...]
    max_tokens: int | None
    tool_call: str | None = None
    """The function a request forces (OpenAI ``tool_choice``): the answer calls it."""
    image_tokens: int = 0
    """What the request's images cost (``sim.providers.images``), part of the input tokens."""
    schema: dict[str, Any] | None = None
    """The JSON schema the answer must follow (``sim.providers.structured``), if any."""
    follow_up: bool = False
    """The conversation already holds an assistant answer (a re-ask, for one)."""

    @property
    def input_tokens(self) -> int:
        """Prompt tokens as the provider would report them, images included."""
        return prompt_tokens(self.messages) + self.image_tokens


@dataclass(frozen=True)
class Reply:
    """An HTTP reply: status, JSON body and headers."""

    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Caller:
    """What a call presents to authenticate, and the keys the simulator accepts (None: any)."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    api_keys: frozenset[str] | None


@dataclass(frozen=True)
class CallContext:
    """Per-call facts a reply needs: its id, the wall-clock time, the processing time."""

    request_id: str
    now: datetime
    processing_ms: int = 0

    @property
    def created(self) -> int:
        """Epoch seconds, as ``created`` fields state them."""
        return int(self.now.timestamp())


class WireError(PromptForgeError):
    """A request the provider refuses before any limit applies (auth, validation)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"HTTP {reply.status}")
        self.reply = reply


class ProviderWire(abc.ABC):
    """One provider's API: parse requests, price them, render replies."""

    name: str

    def new_request_id(self) -> str:
        """A fresh request id in the provider's format."""
        return uuid.uuid4().hex

    @abc.abstractmethod
    def authenticate(self, caller: Caller, ctx: CallContext) -> None:
        """Raise :class:`WireError` with the provider's 401/403 when the key is missing or bad."""

    @abc.abstractmethod
    def parse(self, body: bytes, path_model: str | None, ctx: CallContext) -> SimRequest:
        """The request, or :class:`WireError` with the provider's 400."""

    @abc.abstractmethod
    def cost(self, request: SimRequest, completion: Completion) -> Cost:
        """What the request is charged when it starts."""

    def unused(self, request: SimRequest, completion: Completion) -> Cost:
        """What is given back when it completes (nothing unless the provider adjusts)."""
        return Cost()

    @abc.abstractmethod
    def success(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """The 200 reply."""

    @abc.abstractmethod
    def rate_limited(
        self, request: SimRequest, completion: Completion, decision: LimitCheck, ctx: CallContext
    ) -> Reply:
        """The 429 reply for a refused request."""

    @abc.abstractmethod
    def server_error(self, ctx: CallContext) -> Reply:
        """The provider's usual 5xx."""

    def overloaded(self, ctx: CallContext) -> Reply | None:
        """The provider's overload reply, if it has a distinct one (Anthropic's 529)."""
        return None


def load_json(body: bytes) -> Any:
    """Decode a JSON body; ``ValueError`` when it is not JSON."""
    return json.loads(body)


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type", "text") == "text"
        ]
        return "\n".join(texts)
    return ""


def bearer_key(headers: Mapping[str, str]) -> str | None:
    """The key in ``Authorization: Bearer KEY``, if any."""
    value = headers.get("authorization", "")
    scheme, _, key = value.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def key_accepted(key: str, api_keys: frozenset[str] | None) -> bool:
    """Whether the configured keys accept ``key`` (any key when none are configured)."""
    return api_keys is None or key in api_keys


def optional_int(value: Any) -> int | None:
    """``value`` as an int when it is one (JSON numbers), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def named_views(
    decision: LimitCheck, names: Mapping[LimitKind, str]
) -> list[tuple[str, BucketView]]:
    """The limits of ``names`` that ``decision`` has a view of, each with its header name."""
    return [(name, decision.views[kind]) for kind, name in names.items() if kind in decision.views]


def limit_headers(
    pattern: str,
    views: Iterable[tuple[str, BucketView]],
    reset: Callable[[float], str] | None = None,
) -> dict[str, str]:
    """A provider's rate-limit headers: for each ``(name, view)``, ``pattern`` (which holds
    ``{field}`` and ``{name}``) stating its ``limit``, ``remaining`` and, when the provider
    sends one, its ``reset`` (seconds, as ``reset`` formats them)."""
    headers: dict[str, str] = {}
    for name, view in views:
        values = {"limit": str(view.limit), "remaining": str(view.remaining)}
        if reset is not None:
            values["reset"] = reset(view.reset)
        headers.update({pattern.format(field=f, name=name): v for f, v in values.items()})
    return headers


def go_duration(seconds: float) -> str:
    """A duration the way Go prints it, to the millisecond: ``12ms``, ``8.41s``, ``6m0s``."""
    millis = max(0, math.ceil(seconds * 1000 - 1e-6))
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, frac = divmod(rest, 1000)
    secs = f"{whole}" + (f".{frac:03d}".rstrip("0") if frac else "")
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return f"{out}{secs}s"


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC, whole seconds rounded up, with a ``Z`` suffix."""
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.isoformat().replace("+00:00", "Z")


_IDS = random.Random(secrets.randbits(64))
"""Object ids need to be unique, not secret: a seeded PRNG is 20x cheaper per id than
``secrets`` (one syscall per character), which showed as 5 % of a pipeline bench."""


def random_id(length: int) -> str:
    """A random base62 string, as providers' object ids use."""
    return "".join(_IDS.choices(_BASE62, k=length))
