"""Chat lines: ``messages`` instead of ``prompt``, read by jsonl, mapped by every adapter.

Each adapter's request body is checked field by field, then sent to the provider
simulator (which refuses what the real APIs refuse, such as a Gemini ``assistant`` role)
and its answer parsed back by the same adapter.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from promptforge.core.jsonl import LineError, RawLine, ValidPrompt, validate_line
from promptforge.core.messages import ChatMessage, Conversation
from promptforge.core.models import GenerationParams, PromptTask
from promptforge.embedded.server import BackgroundServer
from promptforge.providers.base import CallOutcome, HttpRequest, PromptCall
from promptforge.providers.registry import get_adapter
from promptforge.sim.providers.config import SimulatorConfig
from promptforge.sim.providers.server import create_app

CHAT = (
    ChatMessage("system", "You are terse."),
    ChatMessage("user", "Name a prime."),
    ChatMessage("assistant", "7"),
    ChatMessage("user", "Another one?"),
)
CHAT_JSON = [message.to_dict() for message in CHAT]


def verdict(line: dict[str, Any]) -> ValidPrompt | LineError | None:
    return validate_line(RawLine(1, json.dumps(line).encode()))


# --- the line rules ---------------------------------------------------------------------------


def test_a_messages_line_is_a_valid_prompt_carrying_its_messages() -> None:
    got = verdict({"prompt_id": "c1", "messages": CHAT_JSON})
    assert got == ValidPrompt(1, "c1", CHAT)


def test_a_prompt_line_still_carries_its_text() -> None:
    assert verdict({"prompt_id": "p", "prompt": "hi"}) == ValidPrompt(1, "p", "hi")


@pytest.mark.parametrize(
    ("messages", "code", "says"),
    [
        ([], "invalid_messages", "non-empty array"),
        ("hello", "invalid_messages", "non-empty array"),
        ([["user", "hi"]], "invalid_messages", "messages[0]"),
        ([{"role": "user", "content": "hi", "name": "x"}], "invalid_messages", "name"),
        ([{"role": "tool", "content": "hi"}], "invalid_message_role", "'tool'"),
        ([{"content": "hi"}], "invalid_message_role", "messages[0].role"),
        ([{"role": "user", "content": ""}], "invalid_message_content", "non-blank"),
        ([{"role": "user", "content": ["a"]}], "invalid_message_content", "messages[0]"),
        ([{"role": "user", "content": "\ud800"}], "invalid_message_content", "surrogate"),
        ([{"role": "system", "content": "s"}], "invalid_message_order", "start and end"),
        ([{"role": "assistant", "content": "a"}, {"role": "user", "content": "u"}],
         "invalid_message_order", "start and end"),
        ([{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
         "invalid_message_order", "start and end"),
        ([{"role": "user", "content": "u"}, {"role": "system", "content": "s"},
          {"role": "user", "content": "u"}], "invalid_message_order", "before every other"),
    ],
)  # fmt: skip
def test_bad_messages_are_refused_with_a_code_per_problem(
    messages: object, code: str, says: str
) -> None:
    got = verdict({"prompt_id": "c", "messages": messages})
    assert isinstance(got, LineError), got
    assert (got.code, got.prompt_id) == (code, "c")
    assert says in got.message


def test_prompt_and_messages_together_is_refused() -> None:
    got = verdict({"prompt_id": "c", "prompt": "hi", "messages": CHAT_JSON})
    assert isinstance(got, LineError) and got.code == "prompt_and_messages"


def test_a_line_with_neither_names_both_fields() -> None:
    got = verdict({"prompt_id": "c"})
    assert isinstance(got, LineError) and got.code == "missing_prompt"
    assert '"messages"' in got.message


def test_a_chat_task_body_round_trips() -> None:
    task = PromptTask("j", "c1", 3, CHAT, generation=2, attempt=1)
    body = task.to_dict()
    assert "prompt" not in body and body["messages"] == CHAT_JSON
    assert PromptTask.from_dict(json.loads(json.dumps(body))) == task
    text = PromptTask("j", "p", 1, "hi")
    assert PromptTask.from_dict(text.to_dict()) == text and "messages" not in text.to_dict()


def test_conversation_joins_the_job_system_before_the_lines() -> None:
    got = Conversation.of(CHAT, "Job system.")
    assert got.system == "Job system.\n\nYou are terse."
    assert [m.role for m in got.turns] == ["user", "assistant", "user"]
    assert Conversation.of("hi") == Conversation(None, (ChatMessage("user", "hi"),))


# --- the adapters' request bodies ---------------------------------------------------------------


def build(provider: str, base_url: str, params: GenerationParams | None = None) -> HttpRequest:
    adapter = get_adapter(provider)
    return adapter.build_request(
        PromptCall(
            base_url=base_url,
            api_key="sk-test",
            model=MODELS[provider],
            prompt=CHAT,
            params=params or GenerationParams(system="Job system."),
        )
    )


MODELS = {
    "openai": "gpt-4o-mini",
    "mistral": "mistral-small-latest",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
}


@pytest.mark.parametrize("provider", ["openai", "mistral"])
def test_chat_completions_send_the_messages_after_the_job_system(provider: str) -> None:
    body = build(provider, "https://example.test").json
    assert body["messages"] == [{"role": "system", "content": "Job system."}, *CHAT_JSON]


def test_anthropic_takes_the_system_text_apart() -> None:
    body = build("anthropic", "https://example.test").json
    assert body["system"] == "Job system.\n\nYou are terse."
    assert body["messages"] == [
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7"},
        {"role": "user", "content": "Another one?"},
    ]


def test_anthropic_without_any_system_sends_none() -> None:
    body = build("anthropic", "https://example.test", GenerationParams()).json
    assert body["system"] == "You are terse."  # the line's own system message alone
    chat_only = get_adapter("anthropic").build_request(
        PromptCall(
            base_url="https://example.test",
            api_key="k",
            model="m",
            prompt=CHAT[1:],
            params=GenerationParams(),
        )
    )
    assert "system" not in chat_only.json


def test_gemini_sends_contents_with_model_turns_and_a_system_instruction() -> None:
    body = build("gemini", "https://example.test").json
    assert body["systemInstruction"] == {"parts": [{"text": "Job system.\n\nYou are terse."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Name a prime."}]},
        {"role": "model", "parts": [{"text": "7"}]},
        {"role": "user", "parts": [{"text": "Another one?"}]},
    ]


# --- through the simulator ----------------------------------------------------------------------

BASE_PATHS = {"openai": "", "mistral": "/mistral", "anthropic": "", "gemini": ""}


@pytest.mark.anyio
@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_the_simulator_answers_every_adapters_chat_request(provider: str) -> None:
    adapter = get_adapter(provider)
    async with (
        BackgroundServer(create_app(SimulatorConfig(latency_median=0.0))) as server,
        httpx.AsyncClient(timeout=10) as http,
    ):
        request = build(provider, server.url + BASE_PATHS[provider])
        response = await http.request(
            request.method, request.url, headers=request.headers, json=request.json
        )
    result = adapter.parse_response(
        response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
    )
    assert result.outcome is CallOutcome.SUCCESS, response.text
    assert result.text and result.input_tokens > 0


@pytest.mark.anyio
async def test_the_simulator_refuses_roles_the_real_apis_refuse() -> None:
    async with (
        BackgroundServer(create_app(SimulatorConfig(latency_median=0.0))) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
    ):
        gemini = await http.post(
            "/v1beta/models/gemini-2.5-flash:generateContent",
            headers={"x-goog-api-key": "AIza-test"},
            json={"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]},
        )
        openai = await http.post(
            "/v1/chat/completions",
            headers={"Authorization": "Bearer sk-test"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "model", "content": "hi"}]},
        )
    assert gemini.status_code == 400 and "valid role" in gemini.text
    assert openai.status_code == 400
    assert openai.json()["error"]["param"] == "messages[0].role"
