"""The benchmark helpers: generated input, the exactly-once check, the report file, a tiny run.

No timing is asserted anywhere: benchmarks report speed, tests check behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptforge.bench.ingest import run_ingest_bench
from promptforge.bench.pipeline import check_outputs, run_pipeline_bench
from promptforge.bench.prompts import write_prompt_file
from promptforge.bench.report import HEADER, update_report
from promptforge.core.jsonl import RawLine, ValidPrompt, validate_line


def _entries(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def _rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_a_prompt_count_gives_that_many_valid_distinct_prompts(tmp_path: Path) -> None:
    made = write_prompt_file(tmp_path / "p.jsonl", prompts=300)
    raw = made.path.read_bytes()
    lines = raw.splitlines()
    assert made.lines == len(lines) == 300
    assert made.bytes == len(raw)
    verdicts = [validate_line(RawLine(i + 1, line)) for i, line in enumerate(lines)]
    assert all(isinstance(v, ValidPrompt) for v in verdicts)
    rows = _rows(made.path)
    assert len({row["prompt_id"] for row in rows}) == 300
    assert len({row["prompt"] for row in rows}) == 300
    lengths = sorted(len(row["prompt"]) for row in rows)
    assert lengths[-1] > 4 * lengths[len(lengths) // 2]  # some long documents among short asks


def test_a_size_is_reached_with_the_fewest_lines(tmp_path: Path) -> None:
    target = 250_000
    made = write_prompt_file(tmp_path / "p.jsonl", min_bytes=target)
    lines = made.path.read_bytes().splitlines(keepends=True)
    assert made.bytes == made.path.stat().st_size >= target
    assert made.bytes - len(lines[-1]) < target  # one line fewer would be short
    assert made.lines == len(lines)


def test_generation_is_reproducible_and_seeded(tmp_path: Path) -> None:
    first = write_prompt_file(tmp_path / "a.jsonl", prompts=50, seed=7)
    again = write_prompt_file(tmp_path / "b.jsonl", prompts=50, seed=7)
    other = write_prompt_file(tmp_path / "c.jsonl", prompts=50, seed=8)
    assert first.path.read_bytes() == again.path.read_bytes()
    assert first.path.read_bytes() != other.path.read_bytes()


@pytest.mark.parametrize(
    "kwargs", [{}, {"prompts": 3, "min_bytes": 10}, {"prompts": 0}, {"min_bytes": 0}]
)
def test_the_generator_refuses_unclear_sizes(tmp_path: Path, kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        write_prompt_file(tmp_path / "p.jsonl", **kwargs)


def _jsonl(path: Path, ids: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt_id": i, "x": 1}) + "\n" for i in ids))
    return path


def test_check_outputs_sees_lost_and_doubled_prompts(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "in.jsonl", ["a", "b", "c"])
    part = _jsonl(tmp_path / "results_part_001.jsonl", ["a", "c"])
    errors = _jsonl(tmp_path / "errors.jsonl", ["b"])
    assert check_outputs([part, errors], source) == (2, 1, True)
    assert check_outputs([part], source) == (2, 0, False)  # b lost
    doubled = _jsonl(tmp_path / "results_part_002.jsonl", ["a"])
    assert check_outputs([part, errors, doubled], source) == (3, 1, False)


def test_the_report_keeps_other_sections_and_hand_edits(tmp_path: Path) -> None:
    report = tmp_path / "docs" / "benchmarks.md"
    update_report(report, "pipeline", "## Pipeline\nfirst run\n")
    text = report.read_text()
    assert text.startswith(HEADER)
    assert "<!-- bench:pipeline -->\n## Pipeline\nfirst run\n<!-- /bench:pipeline -->" in text
    report.write_text(text + "\nA note written by hand.\n")
    update_report(report, "ingest", "## Ingest\n42 MB/s")
    update_report(report, "pipeline", "## Pipeline\nsecond run")
    text = report.read_text()
    assert "first run" not in text
    assert text.count("second run") == 1
    assert "42 MB/s" in text
    assert "A note written by hand." in text
    assert text.index("bench:pipeline") < text.index("A note") < text.index("bench:ingest")


def test_a_broken_marker_is_refused_rather_than_eating_the_file(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n<!-- bench:pipeline -->\nno end marker\n")
    with pytest.raises(ValueError, match="no matching"):
        update_report(report, "pipeline", "new")
    assert "no end marker" in report.read_text()


@pytest.mark.anyio
@pytest.mark.e2e
async def test_a_small_pipeline_run_accounts_for_every_prompt(tmp_path: Path) -> None:
    figures = await run_pipeline_bench(40, concurrency=4, work_dir=tmp_path)
    assert figures.prompts == 40
    assert figures.exactly_once
    assert (figures.results, figures.errors) == (40, 0)
    assert figures.baseline_seconds > 0
    assert figures.total_seconds > 0
    assert figures.cpu_seconds > 0
    assert figures.to_dict()["prompts_per_second"] > 0


@pytest.mark.anyio
async def test_a_small_ingest_run_queues_every_line(tmp_path: Path) -> None:
    figures = await run_ingest_bench(0.2, work_dir=tmp_path)
    assert figures.bytes >= 200_000
    assert figures.complete
    assert figures.prompts_registered == figures.tasks_queued == figures.lines
    assert figures.peak_growth_bytes >= 0
    assert figures.ingest_cpu_seconds > 0
    assert _entries(tmp_path) == []  # the temporary files are gone
