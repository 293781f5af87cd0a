"""Benchmarks (``promptforge bench …``, ``make bench``): figures for ``docs/benchmarks.md``.

Benchmarks are not tests: they print what they measure and rewrite their own section
of the report; tests only check that they run and account for every prompt. Each one
measures a baseline in the same process, because the machine is shared and its speed
varies: the ratio to the baseline is the figure to compare, not absolute seconds.

- ``pipeline``: a whole job over HTTP against the provider simulator (prompts/s);
- ``ingest``: one large upload ingested in a fresh process (MB/s, peak memory growth);
- ``large``: a 1 GB upload ingested, completed and finalized against a 10 MB one (peak
  memory growth per phase, every prompt exactly once; ``shards``: the streamed check);
- ``prompts``: the generated input files; ``report``: the markdown report.
"""
