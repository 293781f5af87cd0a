"""``promptforge bench large``: the streamed exactly-once check, a tiny run, a broken finalize.

No timing or memory figure is asserted (benchmarks report them); what is asserted is
that every phase is measured and that the check finds a lost, doubled or swapped line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from promptforge.bench.large import figures_from, measure_in_this_process
from promptforge.bench.prompts import write_prompt_file
from promptforge.bench.shards import ShardCheck, check_outputs
from promptforge.cli.main import main
from promptforge.core import finalize_steps as finalize

_IDS = [f"p{n:03d}" for n in range(1, 8)]
_Line = Callable[[dict[str, object]], bytes]


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _result(prompt_id: str) -> dict[str, object]:
    return {"prompt_id": prompt_id, "result": "ok", "model": "m", "tokens_used": 3}


def _check(tmp_path: Path, parts: list[list[str]], errors: list[str]) -> ShardCheck:
    source = _jsonl(tmp_path / "in.jsonl", [{"prompt_id": i, "prompt": "x"} for i in _IDS])
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    paths = [
        _jsonl(out / f"results_part_{n:03d}.jsonl", [_result(i) for i in ids])
        for n, ids in enumerate(parts, start=1)
    ]
    paths.append(_jsonl(out / "errors.jsonl", [{"prompt_id": i, "error": {}} for i in errors]))
    listed = sorted(path.name for path in out.iterdir())
    return check_outputs(source, paths, listed=listed, lines_per_part=4)


def test_every_prompt_once_across_shards_and_errors_passes(tmp_path: Path) -> None:
    check = _check(tmp_path, [["p002", "p001", "p004", "p003"], ["p006", "p007"]], ["p005"])
    assert check == ShardCheck(7, 2, 6, 1, exactly_once=True)


@pytest.mark.parametrize(
    ("parts", "errors", "problem"),
    [
        ([["p001", "p002", "p003", "p004"], ["p005", "p006"]], [], "6 output lines for 7"),
        ([["p001", "p002", "p003", "p004"], ["p005", "p006", "p007"]], ["p007"], "8 output"),
        ([["p001", "p002", "p003", "p004"], ["p005", "p006", "p006"]], [], "lost, doubled"),
        ([["p001", "p002", "p003", "p004", "p005"], ["p006", "p007"]], [], "over 4"),
    ],
    ids=["lost", "doubled", "one-swapped-for-another", "shard-too-long"],
)
def test_the_check_finds_each_way_of_getting_it_wrong(
    tmp_path: Path, parts: list[list[str]], errors: list[str], problem: str
) -> None:
    check = _check(tmp_path, parts, errors)
    assert not check.exactly_once
    assert check.problem is not None and problem in check.problem


def test_the_check_finds_files_the_job_does_not_list_or_lacks(tmp_path: Path) -> None:
    source = _jsonl(tmp_path / "in.jsonl", [{"prompt_id": "a", "prompt": "x"}])
    shard = _jsonl(tmp_path / "results_part_001.jsonl", [_result("a")])
    errors = _jsonl(tmp_path / "errors.jsonl", [])
    extra = ["errors.jsonl", "results_part_001.jsonl", "results_part_002.jsonl"]
    unlisted = check_outputs(source, [shard, errors], listed=extra, lines_per_part=9)
    assert not unlisted.exactly_once and "results_part_002" in str(unlisted.problem)
    gone = tmp_path / "results_part_009.jsonl"
    missing = check_outputs(
        source, [shard, gone, errors], listed=[*extra[:2], gone.name], lines_per_part=9
    )
    assert not missing.exactly_once and "missing" in str(missing.problem)
    _jsonl(shard, [{"prompt_id": "a"}])
    shapeless = check_outputs(source, [shard, errors], listed=extra[:2], lines_per_part=9)
    assert not shapeless.exactly_once and "lacks" in str(shapeless.problem)


def test_the_command_measures_every_phase_and_writes_both_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmarks, reliability = tmp_path / "benchmarks.md", tmp_path / "reliability.md"
    reliability.write_text("# Reliability\n\nkept\n", encoding="utf-8")
    sizes = ["--megabytes", "0.05", "0.2"]
    report = ["--report", str(benchmarks), "--reliability", str(reliability)]
    assert main(["bench", "large", *sizes, *report]) == 0
    printed = capsys.readouterr().out
    assert printed.count("every prompt_id exactly once") == 2
    text = benchmarks.read_text(encoding="utf-8")
    assert "<!-- bench:large -->" in text and "| measure | 0.05 MB | 0.20 MB |" in text
    assert "**every `prompt_id` exactly once** | **yes** | **yes** |" in text
    kept = reliability.read_text(encoding="utf-8")
    assert kept.startswith("# Reliability\n\nkept\n")
    assert "## A 1 GB upload" in kept and "| 0.20 MB |" in kept and "**NO**" not in kept


def _doubling(line: _Line) -> _Line:
    def twice(record: dict[str, object]) -> bytes:
        written = line(record)
        return written * 2 if record.get("prompt_id") == "b0000007" else written

    return twice


def _swapping(line: _Line) -> _Line:
    def swapped(record: dict[str, object]) -> bytes:
        if record.get("prompt_id") == "b0000007":
            record = {**record, "prompt_id": "b0000008"}
        return line(record)

    return swapped


@pytest.mark.anyio
@pytest.mark.parametrize("breakage", [_doubling, _swapping], ids=["doubled", "swapped"])
async def test_a_finalize_that_writes_a_line_wrong_fails_the_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    breakage: Callable[[_Line], _Line],
) -> None:
    source = write_prompt_file(tmp_path / "prompts.jsonl", prompts=60, document_share=0.0)
    monkeypatch.setattr(finalize, "_line", breakage(finalize._line))
    measured = await measure_in_this_process(source.path, tmp_path / "data")
    figures = figures_from(measured, lines=source.lines, size=source.bytes)
    assert figures.status == "COMPLETED"  # finalize itself did not notice
    assert figures.completed_count == figures.recorded == 60
    assert not figures.check.exactly_once
    assert not figures.ok
    assert figures.ingest.seconds > 0 and figures.finalize.seconds > 0
