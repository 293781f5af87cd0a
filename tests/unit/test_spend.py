"""The cost cap's pure rule, pricing and token bounds (``core.spend``, ``core.tokens``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promptforge.core.estimate import Estimator
from promptforge.core.messages import ChatMessage
from promptforge.core.models import GenerationParams, PromptTask
from promptforge.core.spend import (
    Hold,
    Ledger,
    call_cost,
    check_priced,
    decide_reserve,
    decide_settle,
    to_nano,
    worst_case,
)
from promptforge.core.tokens import approx_tokens, max_tokens_of, min_tokens_of
from promptforge.errors import Unprocessable
from promptforge.providers.catalogue import Catalogue, ModelInfo
from tests.contract._jobstore_data import make_job

NOW = datetime(2026, 1, 1, tzinfo=UTC)
INFO = ModelInfo("openai", "m", 1000, 2.0, 8.0, 500)


def test_reserve_grants_until_the_worst_case_would_pass_the_cap() -> None:
    first = decide_reserve(Ledger(), None, generation=0, amount=60, cap=100, now=NOW)
    assert first.granted
    assert first.hold == Hold(0, 60)
    second = decide_reserve(first.ledger, None, generation=0, amount=41, cap=100, now=NOW)
    assert not second.granted
    assert second.ledger == Ledger(0, 60, NOW)
    exact = decide_reserve(first.ledger, None, generation=0, amount=40, cap=100, now=NOW)
    assert exact.granted  # spent + reserved may reach the cap exactly


def test_settle_only_the_generation_held() -> None:
    ledger = Ledger(spent=5, reserved=60)
    assert decide_settle(ledger, Hold(1, 60), generation=0, cost=3) is None
    assert decide_settle(ledger, None, generation=0, cost=3) is None
    assert decide_settle(ledger, Hold(0, 60), generation=0, cost=3) == Ledger(8, 0)
    assert decide_settle(ledger, Hold(0, 60), generation=0, cost=None) == Ledger(65, 0)


def test_prices_are_nano_usd_rounded_up() -> None:
    # 1,000 in at 2 $/Mtok + 500 out at 8 $/Mtok = 0.002 + 0.004 USD.
    assert call_cost(INFO, 1000, 500) == 6_000_000
    assert call_cost(INFO, 1, 0) == 2000
    assert to_nano(0.5) == 500_000_000


def test_worst_case_uses_max_tokens_or_the_models_cap() -> None:
    task = PromptTask("j", "p", 1, "abcd")  # 4 bytes + 3 per message + 3 for the reply
    capped = make_job(params=GenerationParams(max_tokens=100))
    assert worst_case(INFO, capped, task) == call_cost(INFO, 10, 100)
    assert worst_case(INFO, make_job(), task) == call_cost(INFO, 10, 500)
    schema = {"type": "json_object"}
    formatted = make_job(params=GenerationParams(max_tokens=100, response_format=schema))
    schema_bytes = len('{"type": "json_object"}')
    assert worst_case(INFO, formatted, task) == call_cost(INFO, 10 + schema_bytes, 100)


def test_token_bounds_bracket_the_approximation() -> None:
    chat = (ChatMessage("system", "Be brief."), ChatMessage("user", "héllo wörld " * 20))
    for prompt in ("What is the capital of France?", chat):
        low, mid, high = min_tokens_of(prompt), approx_tokens(prompt), max_tokens_of(prompt)
        assert low <= mid <= high
    assert max_tokens_of("é") == 2 + 3 + 3  # bytes, not characters; message and reply overheads
    assert max_tokens_of("é", "sys") == 2 + 3 + 3 + 3 + 3  # the system text is a message too


def test_a_cap_on_an_unpriced_model_is_a_422() -> None:
    catalogue = Catalogue([INFO, ModelInfo("openai", "free", 1000, 0.0, 0.0, 500)])
    check_priced(catalogue, "openai", "free", None)  # no cap: no price needed
    check_priced(catalogue, "openai", "m", 1.0)
    for model in ("free", "unknown"):
        with pytest.raises(Unprocessable) as caught:
            check_priced(catalogue, "openai", model, 1.0)
        assert caught.value.code == "unpriced_model"


def test_the_estimate_brackets_every_answer_length() -> None:
    estimator = Estimator(INFO, max_tokens=50)
    prompts = ["Summarise the plot of Hamlet in one line.", "2+2?"]
    for prompt in prompts:
        estimator.add(prompt)
    estimate = estimator.result()
    assert estimate.output_tokens_max == 100
    assert estimate.input_tokens == sum(approx_tokens(p) for p in prompts)
    empty = Catalogue.estimate_cost(INFO, estimate.input_tokens, 0)
    full = Catalogue.estimate_cost(INFO, estimate.input_tokens, 100)
    assert estimate.usd_low <= empty
    assert full <= estimate.usd_high
