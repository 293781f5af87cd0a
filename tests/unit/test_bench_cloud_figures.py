"""``bench cloud``'s figures from its counts: the last line's hottest documents.

The issue's figure (the most writes any one document took, per 1,000 prompts) is kept
as measured; beside it the same split by what drives a document's writes: the prompts
(items, counter shards, the job) or the controller's clock (the rate key's state, once a
tick whatever the throughput: one document rewritten before, a document per version now).
"""

from __future__ import annotations

from collections import Counter

from promptforge.bench.cloud import CloudFigures

_DOCS = "projects/p/databases/(default)/documents/"


def _figures(
    writes: dict[str, int], *, prompts: int = 2000, seconds: float = 200.0
) -> CloudFigures:
    return CloudFigures(
        prompts=prompts,
        status="COMPLETED",
        ops={"firestore.write": float(sum(writes.values()))},
        document_writes=Counter({_DOCS + path: n for path, n in writes.items()}),
        unpriced={},
        lost=0,
        duplicates=0,
        elapsed_seconds=seconds,
    )


def test_the_hottest_document_is_reported_as_measured_and_split_by_what_writes_it() -> None:
    figures = _figures(
        {
            "pf_rate_keys/openai~gpt-4o-mini~default": 90,  # one a tick
            "pf_rate_keys/openai~gpt-4o-mini~default/observations/abc": 1,
            "pf_jobs/j/counters/7": 3,
            "pf_jobs/j": 5,
        }
    )
    summary = figures.summary()
    assert summary["hottest_document_writes_per_1k_prompts"] == 45.0  # 90 per 2,000 prompts
    assert summary["hottest_per_prompt_document_writes_per_1k_prompts"] == 2.5  # the job's 5
    assert summary["tick_document_writes_per_second"] == 0.45  # 90 in 200 s
    assert summary["rate_state_writes_per_second"] == 0.45


def test_a_state_log_spreads_the_ticks_writes_over_its_documents() -> None:
    key = "pf_rate_keys/openai~gpt-4o-mini~default"
    versions = {f"{key}/states/{n:012d}": 2 for n in range(1, 100)}  # created, then deleted
    figures = _figures({**versions, f"{key}/states/000000000000": 1, "pf_jobs/j": 3})
    summary = figures.summary()
    assert summary["hottest_document_writes_per_1k_prompts"] == 1.5  # the job's 3
    assert summary["tick_document_writes_per_second"] == 0.01  # 2 in 200 s
    assert summary["rate_state_writes_per_second"] == 0.995  # 199 in 200 s


def test_without_a_tick_document_the_split_figures_are_the_measured_one_and_zero() -> None:
    summary = _figures({"pf_jobs/j/counters/1": 4}, prompts=1000).summary()
    assert summary["hottest_document_writes_per_1k_prompts"] == 4.0
    assert summary["hottest_per_prompt_document_writes_per_1k_prompts"] == 4.0
    assert summary["tick_document_writes_per_second"] == 0.0
    assert summary["rate_state_writes_per_second"] == 0.0
