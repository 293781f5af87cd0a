"""A message's content in each provider's own form: text parts and images.

The parts come in OpenAI's form (``core/content.py``); each provider takes them as its
documentation says:

    provider    image by URL                                    image as a data: URI
    OpenAI      {"type": "image_url", "image_url": {"url", "detail"?}}   (same, url = the URI)
    Mistral     {"type": "image_url", "image_url": "https://..."}        (same, the URI as string)
    Anthropic   {"type": "image", "source": {"type": "url", "url"}}
                {"type": "image", "source": {"type": "base64", "media_type", "data"}}
    Gemini      {"file_data": {"mime_type"?, "file_uri"}}
                {"inline_data": {"mime_type", "data"}}

Each provider takes a few image types only; an inline image of another type raises
``UnsupportedContent`` (``unsupported_image_type``), which the worker records as that
prompt's error without calling the provider. A URL's type is the provider's to find out.
"""

from __future__ import annotations

from typing import Any

from promptforge.core.content import Content, ImagePart, TextPart, images_of
from promptforge.core.messages import Prompt
from promptforge.errors import UnsupportedContent

_COMMON = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MEDIA_TYPES: dict[str, frozenset[str]] = {
    "openai": _COMMON,
    "mistral": _COMMON,
    "anthropic": _COMMON,
    "gemini": frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"}),
}
"""The inline image types each provider documents."""


def check_image(provider: str, image: ImagePart) -> None:
    """Raise ``UnsupportedContent`` for an inline image ``provider`` does not take."""
    if not image.inline:
        return
    allowed = MEDIA_TYPES.get(provider, _COMMON)
    if image.media_type not in allowed:
        raise UnsupportedContent(
            "unsupported_image_type",
            f"{provider} does not take {image.media_type} images; send one of "
            f"{', '.join(sorted(allowed))}",
        )


def check_prompt(provider: str, prompt: Prompt) -> None:
    """Raise ``UnsupportedContent`` for the first image of ``prompt`` ``provider`` cannot take
    (what validate reports before a job is paid for; the adapters check the same)."""
    if isinstance(prompt, str):
        return
    for message in prompt:
        for image in images_of(message.content):
            check_image(provider, image)


def chat_content(provider: str, content: Content) -> str | list[dict[str, Any]]:
    """Content for a chat-completions body (OpenAI's form; Mistral's image_url a string)."""
    if isinstance(content, str):
        return content
    out: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            out.append(part.to_dict())
            continue
        check_image(provider, part)
        if provider == "mistral":
            out.append({"type": "image_url", "image_url": part.url})
        else:
            out.append(part.to_dict())
    return out


def anthropic_content(content: Content) -> str | list[dict[str, Any]]:
    """Content for a Messages body: text blocks and ``image`` blocks (url or base64)."""
    if isinstance(content, str):
        return content
    out: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
            continue
        check_image("anthropic", part)
        if part.inline:
            source = {"type": "base64", "media_type": part.media_type, "data": part.data}
        else:
            source = {"type": "url", "url": part.url}
        out.append({"type": "image", "source": source})
    return out


def gemini_parts(content: Content) -> list[dict[str, Any]]:
    """``parts`` for a Gemini content: ``text``, ``inline_data`` and ``file_data``."""
    if isinstance(content, str):
        return [{"text": content}]
    out: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            out.append({"text": part.text})
            continue
        check_image("gemini", part)
        if part.inline:
            out.append({"inline_data": {"mime_type": part.media_type, "data": part.data}})
            continue
        file_data = {"file_uri": part.url}
        if part.media_type is not None:
            file_data = {"mime_type": part.media_type, **file_data}
        out.append({"file_data": file_data})
    return out
