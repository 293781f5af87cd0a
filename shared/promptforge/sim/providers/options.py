"""The simulator's settings as a command line states them, turned into a ``SimulatorConfig``.

Limits are written ``PROVIDER:name=value,...`` with the ``LimitSpec`` field names::

    anthropic:rpm=50,input_tpm=40000,output_tpm=8000
    gemini:rpm=10,tpm=250000,rpd=500

A limit change adds the moment (simulated seconds after start) in front; the fields it
does not name keep the value in force just before it::

    30:openai:rpm=100           from t=30 s OpenAI allows 100 RPM, its TPM unchanged
    90:openai:rpm=500

A config file is the JSON form of ``SimulatorConfig`` (``limits``, ``schedule``,
``latency_median``, ``error_rate``, ...); options given beside it override its values.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from promptforge.sim.providers.config import PROVIDERS, LimitChange, LimitSpec, SimulatorConfig

_T = TypeVar("_T")
_INT_FIELDS = frozenset({"rpm", "tpm", "input_tpm", "output_tpm", "rpd", "acceleration_floor_rpm"})
_FLOAT_FIELDS = frozenset({"burst_seconds", "window_seconds"})
# Scalar SimulatorConfig fields an option may set (None means "not given").
SCALAR_FIELDS = (
    "seed",
    "latency_median",
    "latency_sigma",
    "error_rate",
    "overloaded_rate",
    "timeout_rate",
    "drop_rate",
    "hang_seconds",
    "output_tokens_mean",
    "time_scale",
    "quota_failure",
    "off_schema_rate",
)


@dataclasses.dataclass(frozen=True)
class LimitOverride:
    """Some fields of one provider's limits, from ``PROVIDER:name=value,...``."""

    provider: str
    values: dict[str, int | float]


@dataclasses.dataclass(frozen=True)
class ScheduledOverride:
    """A :class:`LimitOverride` that takes effect ``at`` simulated seconds after start."""

    at: float
    override: LimitOverride


def parse_limit(text: str) -> LimitOverride:
    """``PROVIDER:name=value,...``; ``ValueError`` saying what is wrong."""
    provider, sep, assignments = text.partition(":")
    provider = provider.strip()
    if not sep or provider not in PROVIDERS:
        raise ValueError(
            f"limit {text!r}: expected PROVIDER:name=value,... with PROVIDER one of "
            f"{', '.join(PROVIDERS)}"
        )
    return LimitOverride(provider, _assignments(assignments, text))


def parse_limit_change(text: str) -> ScheduledOverride:
    """``AT:PROVIDER:name=value,...`` with AT in simulated seconds (>= 0)."""
    at_text, sep, rest = text.partition(":")
    try:
        at = float(at_text)
    except ValueError:
        at = -1.0
    if not sep or not at >= 0:
        raise ValueError(
            f"limit change {text!r}: expected AT:PROVIDER:name=value,... with AT seconds >= 0"
        )
    return ScheduledOverride(at, parse_limit(rest))


def load_config_file(path: Path) -> SimulatorConfig:
    """A ``SimulatorConfig`` from a JSON file; ``ValueError`` naming the file on any problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"simulator config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"simulator config {path}: expected a JSON object")
    try:
        return SimulatorConfig.from_dict(data)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"simulator config {path}: {exc}") from exc


def add_simulator_options(parser: argparse.ArgumentParser) -> None:
    """The ``promptforge simulate`` options beside ``--host`` and ``--port``."""
    add = parser.add_argument
    add("--config", type=Path, default=None, help="JSON SimulatorConfig; options override it")
    add("--only", choices=PROVIDERS, default=None, help="serve one provider at its real paths")
    add("--seed", type=int, default=None, help="seed of latency, faults and generated text")
    add("--rpm", type=int, default=None, help="RPM limit for every provider")
    add("--tpm", type=int, default=None, help="TPM limit for every provider")
    add(
        "--limit",
        dest="limits",
        action="append",
        type=_argument(parse_limit),
        default=[],
        metavar="PROVIDER:NAME=VALUE,...",
        help="one provider's limits (rpm, tpm, input_tpm, output_tpm, rpd, burst_seconds, "
        "window_seconds, acceleration_floor_rpm); repeatable",
    )
    add(
        "--limit-change",
        dest="changes",
        action="append",
        type=_argument(parse_limit_change),
        default=[],
        metavar="AT:PROVIDER:NAME=VALUE,...",
        help="from AT simulated seconds, change a provider's limits; repeatable",
    )
    add("--latency", type=float, default=None, help="median latency (s), lognormal")
    add("--latency-sigma", type=float, default=None, help="lognormal spread: the heavy tail")
    add("--error-rate", type=float, default=None, help="share of calls answered 5xx")
    add("--overloaded-rate", type=float, default=None, help="share answered 529 (Anthropic)")
    add("--timeout-rate", type=float, default=None, help="share that hang --hang-seconds")
    add("--drop-rate", type=float, default=None, help="share whose connection is dropped")
    add("--hang-seconds", type=float, default=None, help="how long a timeout fault hangs (s)")
    add("--output-tokens", type=int, default=None, help="mean generated tokens per answer")
    add(
        "--off-schema-rate",
        type=float,
        default=None,
        help="share of prompts whose first answer to a JSON-schema request misses the schema",
    )
    add("--time-scale", type=float, default=None, help="simulated seconds per real second")
    add(
        "--no-quota-failure",
        dest="quota_failure",
        action="store_const",
        const=False,
        default=None,
        help="Gemini 429s carry RetryInfo only, without the QuotaFailure naming the limit",
    )
    add(
        "--api-key",
        dest="api_keys",
        action="append",
        default=[],
        help="a key the simulator accepts (default: any non-empty key); repeatable",
    )


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The ``SimulatorConfig`` that :func:`add_simulator_options`' options describe."""
    config = load_config_file(args.config) if args.config is not None else SimulatorConfig()
    return apply_options(
        config,
        rpm=args.rpm,
        tpm=args.tpm,
        limits=args.limits,
        changes=args.changes,
        api_keys=args.api_keys,
        seed=args.seed,
        latency_median=args.latency,
        latency_sigma=args.latency_sigma,
        error_rate=args.error_rate,
        overloaded_rate=args.overloaded_rate,
        timeout_rate=args.timeout_rate,
        drop_rate=args.drop_rate,
        hang_seconds=args.hang_seconds,
        output_tokens_mean=args.output_tokens,
        time_scale=args.time_scale,
        quota_failure=args.quota_failure,
        off_schema_rate=args.off_schema_rate,
    )


def apply_options(
    config: SimulatorConfig,
    *,
    rpm: int | None = None,
    tpm: int | None = None,
    limits: Sequence[LimitOverride] = (),
    changes: Sequence[ScheduledOverride] = (),
    api_keys: Sequence[str] = (),
    **scalars: float | int | None,
) -> SimulatorConfig:
    """``config`` with the command line's options applied, in order of precedence.

    ``rpm``/``tpm`` set every provider's limits, then ``limits`` set single providers'
    fields; ``changes`` are added to the schedule, each starting from the limits in force
    just before it. ``scalars`` are ``SimulatorConfig`` fields (None = not given).
    """
    unknown = sorted(set(scalars) - set(SCALAR_FIELDS))
    if unknown:
        raise ValueError(f"unknown simulator option(s): {', '.join(unknown)}")
    base = dict(config.limits)
    if rpm is not None or tpm is not None:
        base = {
            name: dataclasses.replace(
                spec,
                rpm=rpm if rpm is not None else spec.rpm,
                tpm=tpm if tpm is not None else spec.tpm,
            )
            for name, spec in base.items()
        }
    for override in limits:
        base[override.provider] = overridden(base[override.provider], override)
    schedule = list(config.schedule) + _schedule(base, config.schedule, changes)
    values: dict[str, Any] = {k: v for k, v in scalars.items() if v is not None}
    if api_keys:
        values["api_keys"] = frozenset(api_keys) | (config.api_keys or frozenset())
    return dataclasses.replace(config, limits=base, schedule=schedule, **values)


def describe(config: SimulatorConfig) -> list[str]:
    """One line per provider's limits and one for faults: what the simulator enforces."""
    lines = []
    for name in PROVIDERS:
        spec = config.limits[name]
        fields = [
            f"{f.name}={getattr(spec, f.name)}"
            for f in dataclasses.fields(spec)
            if getattr(spec, f.name) is not None
        ]
        lines.append(f"{name}: {', '.join(fields)}")
    for change in sorted(config.schedule, key=lambda c: c.at):
        lines.append(
            f"at {change.at:g}s {change.provider}: rpm={change.limits.rpm}, tpm={change.limits.tpm}"
        )
    lines.append(
        f"latency median {config.latency_median:g}s sigma {config.latency_sigma:g}; faults: "
        f"5xx {config.error_rate:g}, 529 {config.overloaded_rate:g}, "
        f"timeout {config.timeout_rate:g}, drop {config.drop_rate:g}, "
        f"off-schema {config.off_schema_rate:g}"
    )
    return lines


def _schedule(
    base: dict[str, LimitSpec],
    existing: Sequence[LimitChange],
    changes: Sequence[ScheduledOverride],
) -> list[LimitChange]:
    """Each change as a full ``LimitChange``, built on the limits in force just before it."""
    out: list[LimitChange] = []
    timeline = sorted(existing, key=lambda c: c.at)
    for change in sorted(changes, key=lambda c: c.at):
        provider = change.override.provider
        before = base[provider]
        for earlier in sorted([*timeline, *out], key=lambda c: c.at):
            if earlier.provider == provider and earlier.at <= change.at:
                before = earlier.limits
        out.append(LimitChange(change.at, provider, overridden(before, change.override)))
    return out


def overridden(spec: LimitSpec, override: LimitOverride) -> LimitSpec:
    """``spec`` with the override's fields; ``ValueError`` naming the provider if invalid."""
    try:
        return LimitSpec.from_dict({**dataclasses.asdict(spec), **override.values})
    except ValueError as exc:
        raise ValueError(f"{override.provider} limits: {exc}") from exc


def _assignments(text: str, whole: str) -> dict[str, int | float]:
    values: dict[str, int | float] = {}
    for item in text.split(","):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in _INT_FIELDS | _FLOAT_FIELDS:
            known = ", ".join(sorted(_INT_FIELDS | _FLOAT_FIELDS))
            raise ValueError(
                f"limit {whole!r}: {item.strip()!r} is not name=value with name in {known}"
            )
        try:
            values[name] = int(raw) if name in _INT_FIELDS else float(raw)
        except ValueError:
            kind = "an integer" if name in _INT_FIELDS else "a number"
            raise ValueError(f"limit {whole!r}: {name} must be {kind}, got {raw!r}") from None
    return values


def _argument(parse: Callable[[str], _T]) -> Callable[[str], _T]:
    """``parse`` as an argparse type: its ``ValueError`` message becomes the usage error."""

    def convert(text: str) -> _T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert
