"""`promptforge simulate` options: limits, limit schedule, latency tail and fault injection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptforge.cli.main import build_parser
from promptforge.sim.providers.config import LimitSpec, SimulatorConfig, default_limits
from promptforge.sim.providers.limits import LimitKind, SimulatorLimiter
from promptforge.sim.providers.options import (
    apply_options,
    config_from_args,
    load_config_file,
    parse_limit,
    parse_limit_change,
)


def _config(*argv: str) -> SimulatorConfig:
    return config_from_args(build_parser().parse_args(["simulate", *argv]))


def test_no_options_give_the_default_simulator() -> None:
    args = build_parser().parse_args(["simulate"])
    assert (args.host, args.port, args.only) == ("127.0.0.1", 8090, None)
    assert config_from_args(args) == SimulatorConfig()


def test_every_fault_and_latency_option_reaches_the_config() -> None:
    config = _config(
        "--seed", "7",
        "--latency", "0.2",
        "--latency-sigma", "1.5",
        "--error-rate", "0.05",
        "--overloaded-rate", "0.02",
        "--timeout-rate", "0.01",
        "--drop-rate", "0.03",
        "--hang-seconds", "4",
        "--output-tokens", "300",
        "--time-scale", "10",
        "--api-key", "k1",
        "--api-key", "k2",
    )  # fmt: skip
    assert config.seed == 7
    assert (config.latency_median, config.latency_sigma) == (0.2, 1.5)
    assert (config.error_rate, config.overloaded_rate) == (0.05, 0.02)
    assert (config.timeout_rate, config.drop_rate, config.hang_seconds) == (0.01, 0.03, 4.0)
    assert (config.output_tokens_mean, config.time_scale) == (300, 10.0)
    assert config.api_keys == frozenset({"k1", "k2"})
    assert config.quota_failure is True
    assert _config("--no-quota-failure").quota_failure is False


def test_rpm_and_tpm_apply_to_every_provider_then_limit_refines_one() -> None:
    config = _config(
        "--rpm", "100",
        "--tpm", "9000",
        "--limit", "anthropic:input_tpm=5000,output_tpm=1000,acceleration_floor_rpm=30",
        "--limit", "gemini:rpd=50",
    )  # fmt: skip
    assert {spec.rpm for spec in config.limits.values()} == {100}
    assert {spec.tpm for spec in config.limits.values()} == {9000}
    anthropic = config.limits["anthropic"]
    assert (anthropic.input_tpm, anthropic.output_tpm) == (5000, 1000)
    assert anthropic.acceleration_floor_rpm == 30
    assert anthropic.burst_seconds == default_limits()["anthropic"].burst_seconds
    assert config.limits["gemini"].rpd == 50


def test_limit_changes_start_from_the_limits_in_force_before_them() -> None:
    config = _config(
        "--limit", "openai:rpm=60,tpm=10000",
        "--limit-change", "90:openai:tpm=5000",
        "--limit-change", "30:openai:rpm=10",
        "--limit-change", "30:mistral:burst_seconds=5",
    )  # fmt: skip
    schedule = sorted(config.schedule, key=lambda change: (change.at, change.provider))
    assert [(c.at, c.provider) for c in schedule] == [
        (30.0, "mistral"),
        (30.0, "openai"),
        (90.0, "openai"),
    ]
    assert (schedule[1].limits.rpm, schedule[1].limits.tpm) == (10, 10000)
    assert (schedule[2].limits.rpm, schedule[2].limits.tpm) == (10, 5000)
    assert schedule[0].limits.burst_seconds == 5.0
    assert schedule[0].limits.rpm == default_limits()["mistral"].rpm


def test_a_scheduled_change_is_enforced_at_its_time() -> None:
    config = _config(
        "--limit", "openai:rpm=60,burst_seconds=1", "--limit-change", "10:openai:rpm=6"
    )
    now = [0.0]
    limiter = SimulatorLimiter(config.limits, config.schedule, clock=lambda: now[0])
    assert limiter.views("openai")[LimitKind.REQUESTS].limit == 60
    now[0] = 10.0
    assert limiter.views("openai")[LimitKind.REQUESTS].limit == 6
    assert limiter.spec("openai").rpm == 6


def test_a_config_file_is_read_and_options_override_it(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text(
        json.dumps(
            {
                "latency_median": 0.5,
                "error_rate": 0.1,
                "api_keys": ["from-file"],
                "limits": {"gemini": {"rpm": 5, "tpm": 1000, "rpd": 20}},
                "schedule": [{"at": 60, "provider": "gemini", "limits": {"rpm": 1, "tpm": 1000}}],
            }
        ),
        encoding="utf-8",
    )
    config = _config(
        "--config", str(path),
        "--error-rate", "0.2",
        "--api-key", "from-cli",
        "--limit-change", "120:gemini:tpm=500",
    )  # fmt: skip
    assert config.latency_median == 0.5 and config.error_rate == 0.2
    assert config.api_keys == frozenset({"from-file", "from-cli"})
    assert config.limits["gemini"] == LimitSpec(rpm=5, tpm=1000, rpd=20)
    # The CLI's change builds on the file's change at 60 s, not on the starting limits.
    last = max(config.schedule, key=lambda change: change.at)
    assert (last.at, last.limits.rpm, last.limits.tpm) == (120.0, 1, 500)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("openai", "expected PROVIDER:name=value"),
        ("cohere:rpm=1", "PROVIDER one of"),
        ("openai:rpm", "is not name=value"),
        ("openai:colour=red", "is not name=value"),
        ("openai:rpm=fast", "rpm must be an integer"),
        ("openai:burst_seconds=x", "burst_seconds must be a number"),
    ],
)
def test_bad_limits_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_limit(text)


@pytest.mark.parametrize("text", ["soon:openai:rpm=1", "-5:openai:rpm=1", "openai:rpm=1"])
def test_bad_limit_changes_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match="AT:PROVIDER"):
        parse_limit_change(text)


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError, match="rpm must be positive"):
        apply_options(SimulatorConfig(), limits=[parse_limit("openai:rpm=0")])
    with pytest.raises(ValueError, match="drop_rate"):
        apply_options(SimulatorConfig(), drop_rate=1.5)
    with pytest.raises(ValueError, match="unknown simulator option"):
        apply_options(SimulatorConfig(), colour=1)


def test_argparse_reports_a_bad_limit_as_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["simulate", "--limit", "openai:rpm=fast"])
    assert caught.value.code == 2
    assert "rpm must be an integer" in capsys.readouterr().err


def test_a_bad_config_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text('{"limits": {"openai": {"rpm": 1}}}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"sim\.json"):
        load_config_file(path)
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="expected a JSON object"):
        load_config_file(path)
