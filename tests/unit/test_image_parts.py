"""Image parts: the ingest rule, the task body, and each provider's wire form.

The request bodies are judged by the providers' own SDK types where that is cheap: the
OpenAI and Anthropic message TypedDicts (validated through pydantic, content consumed so
every part is checked) and google-genai's ``Content`` model (which forbids unknown fields).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import MessageParam
from google.genai import types as genai_types
from mistralai.client.models import UserMessage
from openai.types.chat import ChatCompletionMessageParam
from pydantic import TypeAdapter

from promptforge.core.content import ImagePart, TextPart
from promptforge.core.jsonl import LineError, LineSplitter, RawLine, ValidPrompt, validate_line
from promptforge.core.messages import ChatMessage, parse_messages
from promptforge.core.models import GenerationParams, PromptTask
from promptforge.core.validate import Validator
from promptforge.errors import UnsupportedContent
from promptforge.formats.anthropic_batch import openai_parts
from promptforge.providers.anthropic import AnthropicAdapter
from promptforge.providers.base import PromptCall
from promptforge.providers.catalogue import Catalogue
from promptforge.providers.gemini import GeminiAdapter
from promptforge.providers.mistral import MistralAdapter
from promptforge.providers.openai import OpenAIAdapter
from tests.images import data_uri, image_line, png

PNG = data_uri(png(2, 3))
# Kept for the module's life: a validated iterable checks its items lazily, through them.
OPENAI_MESSAGE: TypeAdapter[Any] = TypeAdapter(ChatCompletionMessageParam)
ANTHROPIC_MESSAGE: TypeAdapter[Any] = TypeAdapter(MessageParam)
URL = "https://example.com/photos/cat.jpg?size=large"


def _verdict(row: dict[str, Any], max_bytes: int = 1_000_000) -> ValidPrompt | LineError:
    verdict = validate_line(RawLine(1, json.dumps(row).encode()), max_bytes)
    assert verdict is not None
    return verdict


def _user(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": list(parts)}]


def _image(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}


def test_a_line_with_text_and_image_parts_is_a_prompt() -> None:
    verdict = _verdict(image_line("p1", PNG))
    assert isinstance(verdict, ValidPrompt)
    assert not isinstance(verdict.prompt, str)
    content = verdict.prompt[0].content
    assert content == (TextPart("What is in this image?"), ImagePart(PNG))
    assert isinstance(content[1], ImagePart)
    assert content[1].inline and content[1].media_type == "image/png"


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        (_user(_image("http://example.com/a.png")), "invalid_image_url"),
        (_user(_image("ftp://example.com/a.png")), "invalid_image_url"),
        (_user(_image("data:image/png;base64,@@@@")), "invalid_image_url"),
        (_user(_image("data:text/plain;base64,aGk=")), "invalid_image_url"),
        (_user(_image(URL, detail="ultra")), "invalid_image"),
        (_user({"type": "image_url", "image_url": URL}), "invalid_image"),
        (_user({"type": "input_audio", "input_audio": {}}), "unsupported_content_part"),
        (_user(), "invalid_message_content"),
        (_user({"type": "text", "text": "  "}), "invalid_message_content"),
        (
            [
                {"role": "system", "content": [_image(URL)]},
                {"role": "user", "content": "hi"},
            ],
            "image_not_allowed",
        ),
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [_image(URL)]},
                {"role": "user", "content": "and?"},
            ],
            "image_not_allowed",
        ),
    ],
)
def test_a_bad_part_is_the_lines_error_with_a_code(messages: list[Any], code: str) -> None:
    verdict = _verdict({"prompt_id": "p1", "messages": messages})
    assert isinstance(verdict, LineError)
    assert verdict.code == code, verdict.message
    assert verdict.prompt_id == "p1"


def test_a_big_data_uri_counts_against_the_line_limit() -> None:
    row = image_line("big", data_uri(png(300, 300) + bytes(40_000)))
    size = len(json.dumps(row).encode())
    assert isinstance(_verdict(row, max_bytes=size), ValidPrompt)
    raw = json.dumps(row).encode()
    (line,) = list(LineSplitter(size - 1).feed(raw + b"\n"))
    verdict = validate_line(line, size - 1)
    assert isinstance(verdict, LineError) and verdict.code == "line_too_long"


def test_the_task_body_keeps_every_part() -> None:
    parsed = parse_messages(
        [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Look"}, _image(URL, detail="low")],
            },
        ]
    )
    assert isinstance(parsed, tuple)
    task = PromptTask("job", "p1", 1, parsed)
    again = PromptTask.from_dict(json.loads(json.dumps(task.to_dict())))
    assert again == task
    assert again.to_dict()["messages"][1]["content"][1] == _image(URL, detail="low")


def _call(provider: str, prompt: tuple[ChatMessage, ...]) -> dict[str, Any]:
    adapters = {
        "openai": OpenAIAdapter(),
        "mistral": MistralAdapter(),
        "anthropic": AnthropicAdapter(),
        "gemini": GeminiAdapter(),
    }
    adapter = adapters[provider]
    call = PromptCall(adapter.default_base_url, "k", "m", prompt, GenerationParams(system="Sys"))
    return adapter.build_request(call).json


def _chat(*parts: TextPart | ImagePart) -> tuple[ChatMessage, ...]:
    return (ChatMessage("user", tuple(parts)),)


PROMPT = _chat(TextPart("Compare"), ImagePart(URL, "high"), ImagePart(PNG))


def test_openai_gets_image_url_parts_as_the_sdk_types_them() -> None:
    body = _call("openai", PROMPT)
    user = body["messages"][1]
    assert user["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": URL, "detail": "high"}},
        {"type": "image_url", "image_url": {"url": PNG}},
    ]
    checked = OPENAI_MESSAGE.validate_python(user)
    assert len(list(checked["content"])) == 3  # consumed: every part validated


def test_mistral_gets_the_image_url_as_a_string() -> None:
    user = _call("mistral", PROMPT)["messages"][1]
    assert user["content"][1:] == [
        {"type": "image_url", "image_url": URL},
        {"type": "image_url", "image_url": PNG},
    ]
    message = UserMessage.model_validate(user)
    assert [type(chunk).__name__ for chunk in message.content] == [  # type: ignore[union-attr]
        "TextChunk",
        "ImageURLChunk",
        "ImageURLChunk",
    ]


def test_anthropic_gets_image_blocks_with_url_and_base64_sources() -> None:
    body = _call("anthropic", PROMPT)
    assert body["system"] == "Sys"
    user = body["messages"][0]
    assert user["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "url", "url": URL}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": PNG.split(",")[1]},
        },
    ]
    checked = ANTHROPIC_MESSAGE.validate_python(user)
    assert len(list(checked["content"])) == 3


def test_gemini_gets_file_data_and_inline_data_parts() -> None:
    body = _call("gemini", PROMPT)
    parts = body["contents"][0]["parts"]
    assert parts == [
        {"text": "Compare"},
        {"file_data": {"mime_type": "image/jpeg", "file_uri": URL}},
        {"inline_data": {"mime_type": "image/png", "data": PNG.split(",")[1]}},
    ]
    content = genai_types.Content.model_validate(body["contents"][0])
    assert content.parts is not None and content.parts[2].inline_data is not None
    assert content.parts[2].inline_data.data == png(2, 3)


def test_a_url_without_a_known_extension_goes_to_gemini_without_a_mime_type() -> None:
    body = _call("gemini", _chat(ImagePart("https://example.com/image?id=7")))
    assert body["contents"][0]["parts"] == [
        {"file_data": {"file_uri": "https://example.com/image?id=7"}}
    ]


@pytest.mark.parametrize(
    ("provider", "media_type", "taken"),
    [
        ("openai", "image/heic", False),
        ("mistral", "image/bmp", False),
        ("anthropic", "image/svg+xml", False),
        ("anthropic", "image/webp", True),
        ("gemini", "image/heic", True),
        ("gemini", "image/gif", False),
    ],
)
def test_an_inline_image_type_the_provider_does_not_take_is_unsupported_content(
    provider: str, media_type: str, taken: bool
) -> None:
    prompt = _chat(TextPart("x"), ImagePart(data_uri(b"\x00\x01", media_type)))
    if taken:
        _call(provider, prompt)
        return
    with pytest.raises(UnsupportedContent) as caught:
        _call(provider, prompt)
    assert caught.value.code == "unsupported_image_type"
    assert media_type in caught.value.message


@pytest.mark.parametrize(
    ("provider", "model", "codes"),
    [
        ("anthropic", "claude-haiku-4-5-20251001", ["unsupported_image_type"]),
        ("gemini", "gemini-2.5-flash", []),
    ],
)
def test_validate_reports_an_image_the_provider_cannot_take(
    provider: str, model: str, codes: list[str]
) -> None:
    validator = Validator(Catalogue.load(None), provider, model)
    rows = [image_line("ok", PNG), image_line("heic", data_uri(b"\x00", "image/heic"))]
    validator.feed(b"".join(json.dumps(row).encode() + b"\n" for row in rows))
    report = validator.close()
    assert [issue.code for issue in report.errors] == codes
    assert report.prompt_count == 2 - len(codes)


def test_an_anthropic_batch_lines_image_blocks_become_image_parts() -> None:
    blocks = [
        {"type": "text", "text": "Which?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
        {"type": "image", "source": {"type": "url", "url": URL}},
    ]
    parsed = parse_messages([{"role": "user", "content": openai_parts(blocks)}])
    assert isinstance(parsed, tuple)
    assert parsed[0].content == (
        TextPart("Which?"),
        ImagePart("data:image/png;base64,AAAA"),
        ImagePart(URL),
    )
    # Round trip: the Anthropic adapter sends them as the blocks they came as.
    assert _call("anthropic", parsed)["messages"][0]["content"] == blocks
    odd = parse_messages([{"role": "user", "content": openai_parts([{"type": "image"}])}])
    assert not isinstance(odd, tuple) and odd.code == "unsupported_content_part"


def test_token_counts_bound_an_image_by_its_rule_not_its_bytes() -> None:
    from promptforge.core.tokens import (
        IMAGE_MAX_TOKENS,
        approx_tokens,
        max_tokens_of,
        min_tokens_of,
    )

    text_only = _chat(TextPart("Compare"))
    assert max_tokens_of(PROMPT) - max_tokens_of(text_only) == 2 * IMAGE_MAX_TOKENS
    assert min_tokens_of(PROMPT) < approx_tokens(PROMPT) < max_tokens_of(PROMPT)
