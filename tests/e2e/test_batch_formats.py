"""The drop-in batch APIs with the official SDKs, unchanged but for the base URL, against
`promptforge serve` and the provider simulator: OpenAI Files + Batches and Anthropic Message
Batches, with models of any provider in either format, cancel, list pages and bad input."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.e2e.processes import Process, create_key, server, simulator
from tests.e2e.test_providers import provider_env

pytestmark = pytest.mark.e2e

GPT = "gpt-4o-mini"
CLAUDE = "claude-3-5-haiku-20241022"
_T = TypeVar("_T")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, str]]:
    """A simulator at 600 RPM per model (a 3,000-line batch runs for minutes) and a server."""
    tmp = tmp_path_factory.mktemp("formats")
    data = tmp / "data"
    key = create_key(data, "tenant")
    with simulator(tmp, "--rpm", "600", "--latency", "0.05") as sim:
        proc = server(data, sim.url, **provider_env(sim.url))
        proc.start("/healthz")
        try:
            yield proc, key
        finally:
            proc.stop()


@pytest.fixture
def oai(stack: tuple[Process, str]) -> Iterator[openai.OpenAI]:
    proc, key = stack
    with openai.OpenAI(api_key=key, base_url=f"{proc.url}/v1") as client:
        yield client


@pytest.fixture
def claude(stack: tuple[Process, str]) -> Iterator[anthropic.Anthropic]:
    proc, key = stack
    with anthropic.Anthropic(api_key=key, base_url=proc.url) as client:
        yield client


def request_line(custom_id: str, model: str = GPT, **extra: Any) -> dict[str, Any]:
    """One line of an OpenAI batch input file."""
    body = {"model": model, "messages": [{"role": "user", "content": f"Say {custom_id}"}]}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions"} | {
        "body": body | extra
    }


def upload(client: openai.OpenAI, lines: list[dict[str, Any]] | bytes) -> str:
    data = lines if isinstance(lines, bytes) else "".join(json.dumps(x) + "\n" for x in lines)
    content = data if isinstance(data, bytes) else data.encode()
    return client.files.create(file=("input.jsonl", content), purpose="batch").id


def create(client: openai.OpenAI, lines: list[dict[str, Any]]) -> Any:
    return client.batches.create(
        input_file_id=upload(client, lines),
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"team": "e2e"},
    )


def wait_for(what: str, probe: Callable[[], _T | None], timeout: float = 600) -> _T:
    """Poll ``probe`` until it answers something (a loaded machine gets a generous deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


FINAL = {"completed", "failed", "cancelled", "expired"}


def finished(client: openai.OpenAI, batch_id: str) -> Any:
    def probe() -> Any:
        batch = client.batches.retrieve(batch_id)
        return batch if batch.status in FINAL else None

    return wait_for(f"batch {batch_id} to end", probe)


def lines_of(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(x) for x in client.files.content(file_id).text.splitlines()]


def test_sixty_line_batch_completes_with_every_custom_id_once(oai: openai.OpenAI) -> None:
    ids = [f"req-{n}" for n in range(60)]
    batch = create(oai, [request_line(i, max_tokens=20) for i in ids])
    assert batch.status in {"validating", "in_progress"} and batch.metadata == {"team": "e2e"}
    done = finished(oai, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed) == (60, 60)
    assert done.request_counts.failed == 0 and done.error_file_id is None
    out = lines_of(oai, done.output_file_id)
    assert Counter(line["custom_id"] for line in out) == Counter(ids)
    for line in out:
        assert line["error"] is None and line["response"]["status_code"] == 200
        completion = ChatCompletion.model_validate(line["response"]["body"])
        assert completion.model == GPT and completion.choices[0].message.content
        assert completion.usage is not None and completion.usage.total_tokens > 0
    assert oai.files.retrieve(done.input_file_id).purpose == "batch"


def _decisions(proc: Process, key: str) -> int:
    """How many controller steps the rate key has had (its saved decision's time, or 0)."""
    db = Path(proc.env["PROMPTFORGE_DATA_DIR"]) / "jobs.db"
    with closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT state FROM rate_state WHERE rate_key = ?", (key,)).fetchone()
    return 0 if row is None else int(bool((json.loads(row[0]).get("decision") or {}).get("at")))


def test_claude_line_answers_in_openai_format(
    oai: openai.OpenAI, stack: tuple[Process, str]
) -> None:
    """A GPT line first makes the job's key GPT's; the Claude line runs under Claude's own
    key, whose controller steps too (its chain of ticks: it is no job's key)."""
    lines = [request_line("gpt", max_tokens=30), request_line("only", CLAUDE, max_tokens=30)]
    done = finished(oai, create(oai, lines).id)
    assert done.status == "completed" and done.request_counts is not None
    assert done.request_counts.completed == 2
    (line,) = [x for x in lines_of(oai, done.output_file_id) if x["custom_id"] == "only"]
    claude_key = f"anthropic~{CLAUDE}~default"
    wait_for("Claude's key to be stepped", lambda: _decisions(stack[0], claude_key) or None)
    completion = ChatCompletion.model_validate(line["response"]["body"])
    assert completion.model == CLAUDE and completion.choices[0].finish_reason in {"stop", "length"}
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


def test_list_pages_with_has_more(oai: openai.OpenAI) -> None:
    first = create(oai, [request_line("a")])
    second = create(oai, [request_line("b")])
    page = oai.batches.list(limit=1)
    assert page.has_more and [b.id for b in page.data] == [second.id]
    following = oai.batches.list(limit=1, after=second.id)
    assert [b.id for b in following.data] == [first.id]


def test_cancel_keeps_what_finished(oai: openai.OpenAI) -> None:
    total = 3000
    batch = create(oai, [request_line(f"c-{n}", max_tokens=5) for n in range(total)])

    def started() -> Any:
        counts = oai.batches.retrieve(batch.id).request_counts
        return counts if counts is not None and counts.completed > 0 else None

    wait_for("the first answers", started)
    asked = oai.batches.cancel(batch.id)
    assert asked.status in {"cancelling", "cancelled"}
    done = finished(oai, batch.id)
    assert done.status == "cancelled" and done.request_counts is not None
    counts = done.request_counts
    assert 0 < counts.completed < total
    assert counts.completed + counts.failed == counts.total == total
    assert len(lines_of(oai, done.output_file_id)) == counts.completed
    errors = lines_of(oai, done.error_file_id)
    assert {e["error"]["code"] for e in errors} == {"cancelled"}
    assert len(errors) == counts.failed


def test_anthropic_batch_with_a_gpt_line(claude: anthropic.Anthropic) -> None:
    requests: list[Any] = [
        {
            "custom_id": f"claude-{n}",
            "params": {
                "model": CLAUDE,
                "max_tokens": 30,
                "system": "Be brief.",
                "messages": [{"role": "user", "content": f"Count to {n}"}],
            },
        }
        for n in range(20)
    ]
    requests.append(
        {
            "custom_id": "gpt-line",
            "params": {
                "model": GPT,
                "max_tokens": 30,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            },
        }
    )
    batch = claude.messages.batches.create(requests=requests)
    assert batch.processing_status == "in_progress"

    def ended() -> Any:
        found = claude.messages.batches.retrieve(batch.id)
        return found if found.processing_status == "ended" else None

    done = wait_for("the message batch to end", ended)
    assert done.request_counts.succeeded == 21 and done.request_counts.errored == 0
    assert done.results_url is not None
    results = list(claude.messages.batches.results(batch.id))
    assert len(results) == 21 and {r.result.type for r in results} == {"succeeded"}
    by_id = {r.custom_id: r.result for r in results}
    gpt = by_id["gpt-line"]
    assert gpt.type == "succeeded" and gpt.message.model == GPT
    assert gpt.message.usage.output_tokens > 0 and gpt.message.content[0].type == "text"
    page = claude.messages.batches.list(limit=1)
    assert [b.id for b in page.data] == [batch.id]
    assert claude.messages.batches.delete(batch.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.batches.retrieve(batch.id)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"custom_id": "x", "method": "POST"\n', "invalid_json_line"),
        (json.dumps(request_line("x") | {"url": "/v1/embeddings"}).encode(), "invalid_url"),
        (json.dumps(request_line("x", "no-such-model")).encode(), "model_not_found"),
        (
            (json.dumps(request_line("x")) + "\n" + json.dumps(request_line("x"))).encode(),
            "duplicate_custom_id",
        ),
    ],
)
def test_bad_input_file_is_refused_in_openai_shape(
    oai: openai.OpenAI, content: bytes, code: str
) -> None:
    file_id = upload(oai, content)
    with pytest.raises(openai.BadRequestError) as caught:
        oai.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert caught.value.code == code
    assert (
        isinstance(caught.value.body, dict) and caught.value.body["type"] == "invalid_request_error"
    )


def test_file_with_another_purpose_is_refused(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.files.create(file=("x.jsonl", b"{}\n"), purpose="fine-tune")
    assert caught.value.code == "invalid_purpose"


def test_unknown_ids_and_keys_in_each_format(
    oai: openai.OpenAI, claude: anthropic.Anthropic, stack: tuple[Process, str]
) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.batches.retrieve("batch_" + "0" * 32)
    with pytest.raises(openai.NotFoundError):
        oai.files.retrieve("file-nope")
    with (
        openai.OpenAI(api_key="pf_wrong", base_url=f"{stack[0].url}/v1") as wrong,
        pytest.raises(openai.AuthenticationError),
    ):
        wrong.batches.list()
    with (
        anthropic.Anthropic(api_key="pf_wrong", base_url=stack[0].url) as wrong_claude,
        pytest.raises(anthropic.AuthenticationError),
    ):
        wrong_claude.messages.batches.list()


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            {
                "params": {
                    "model": "no-such-model",
                    "max_tokens": 5,
                    "messages": [{"role": "user", "content": "x"}],
                }
            },
            "model_not_found",
        ),
        ({"custom_id": "has space"}, "custom_id"),
    ],
)
def test_bad_anthropic_requests_are_refused_in_anthropic_shape(
    claude: anthropic.Anthropic, change: dict[str, Any], needle: str
) -> None:
    good = {
        "custom_id": "one",
        "params": {
            "model": CLAUDE,
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
        },
    }
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.batches.create(requests=[good | change])  # type: ignore[list-item]
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error" and needle in body["error"]["message"]


def test_duplicate_custom_id_in_anthropic_batch(claude: anthropic.Anthropic) -> None:
    one = {
        "custom_id": "same",
        "params": {
            "model": CLAUDE,
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x"}],
        },
    }
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.batches.create(requests=[one, one])  # type: ignore[list-item]
    assert "duplicate_custom_id" in str(caught.value)
