"""A chat message's content as parts: text and images (OpenAI's ``content`` array).

A ``messages`` line's ``content`` is a string, or a non-empty array of parts in OpenAI's
chat form, the form every provider adapter starts from::

    {"type": "text", "text": "What is in this picture?"}
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo..."}}

An image is an ``https://`` URL (the provider fetches it) or a ``data:`` URI holding the
bytes in base64 (``data:image/<type>;base64,<data>``); ``detail`` (``auto``, ``low``,
``high``) is OpenAI's and is left out for the other providers. Images go in ``user``
messages only (OpenAI refuses them elsewhere); ``system`` and ``assistant`` content is
text. The line limit (``core/jsonl.MAX_LINE_BYTES``) counts a data URI like any text:
a bigger image is given by URL. Which image types each provider takes is the adapter's
business (``providers/images.py``): a part it cannot send is that prompt's error.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Any

from promptforge.errors import CodedError

MAX_PARTS = 100
"""The most parts one message's content may have."""

DETAILS = ("auto", "low", "high")
"""OpenAI's ``detail`` values."""

_DATA_URI = re.compile(r"data:(?P<type>image/[A-Za-z0-9.+-]+);base64,(?P<data>.*)", re.S)


class ContentProblem(CodedError):
    """Why a content value is refused: a line error's code and message."""


@dataclass(frozen=True)
class TextPart:
    """A text part."""

    text: str

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's form: ``{"type": "text", "text": ...}``."""
        return {"type": "text", "text": self.text}


@dataclass(frozen=True)
class ImagePart:
    """An image part: an ``https://`` URL or a ``data:`` URI, and OpenAI's ``detail``."""

    url: str
    detail: str | None = None

    @property
    def inline(self) -> bool:
        """True for a ``data:`` URI (the bytes are in the line), False for a URL."""
        return self.url.startswith("data:")

    @property
    def media_type(self) -> str | None:
        """The data URI's type (``image/png``); a URL's from its extension, else None."""
        if self.inline:
            return self.url[5 : self.url.index(";")].lower()
        path = self.url.split("?", 1)[0].split("#", 1)[0].lower()
        for suffix, media_type in _EXTENSIONS.items():
            if path.endswith(suffix):
                return media_type
        return None

    @property
    def data(self) -> str:
        """A data URI's base64 payload (empty for a URL)."""
        return self.url.split(",", 1)[1] if self.inline else ""

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's form: ``{"type": "image_url", "image_url": {"url", "detail"?}}``."""
        image: dict[str, Any] = {"url": self.url}
        if self.detail is not None:
            image["detail"] = self.detail
        return {"type": "image_url", "image_url": image}


ContentPart = TextPart | ImagePart
Content = str | tuple[ContentPart, ...]
"""A message's content: a string, or its parts."""

_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
}


def content_to_wire(content: Content) -> str | list[dict[str, Any]]:
    """A content in OpenAI's form (the task body's and the chat-completions request's)."""
    if isinstance(content, str):
        return content
    return [part.to_dict() for part in content]


def text_of(content: Content) -> str:
    """The text of a content: the string, or its text parts joined by a newline."""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if isinstance(part, TextPart))


def images_of(content: Content) -> tuple[ImagePart, ...]:
    """The image parts of a content (none for a string)."""
    if isinstance(content, str):
        return ()
    return tuple(part for part in content if isinstance(part, ImagePart))


def parse_parts(where: str, value: list[Any], *, images: bool) -> tuple[ContentPart, ...]:
    """The parts of a content array; ``ContentProblem`` naming the first bad one.

    ``images`` says whether image parts are allowed (in ``user`` messages only).
    """
    if not value:
        raise ContentProblem("invalid_message_content", f'"{where}" is an empty array')
    if len(value) > MAX_PARTS:
        raise ContentProblem(
            "invalid_message_content", f'"{where}" has {len(value)} parts; at most {MAX_PARTS}'
        )
    parts = tuple(_part(f"{where}[{i}]", item, images) for i, item in enumerate(value))
    if not any(isinstance(p, ImagePart) or p.text.strip() for p in parts):
        raise ContentProblem("invalid_message_content", f'"{where}" has no text and no image')
    return parts


def parts_from_wire(value: Any) -> Content:
    """A content from its stored (OpenAI) form, trusted: it was checked at ingest."""
    if isinstance(value, str):
        return value
    parts: list[ContentPart] = []
    for item in value:
        if item["type"] == "text":
            parts.append(TextPart(str(item["text"])))
        else:
            image = item["image_url"]
            parts.append(ImagePart(str(image["url"]), image.get("detail")))
    return tuple(parts)


def _part(where: str, item: Any, images: bool) -> ContentPart:
    if not isinstance(item, dict):
        raise ContentProblem("invalid_message_content", f'"{where}" must be an object')
    kind = item.get("type")
    if kind == "text":
        return _text_part(where, item)
    if kind == "image_url":
        if not images:
            raise ContentProblem(
                "image_not_allowed",
                f'"{where}" is an image; images go in user messages only '
                "(system and assistant content is text)",
            )
        return _image_part(where, item)
    raise ContentProblem(
        "unsupported_content_part",
        f'"{where}.type" must be "text" or "image_url", got {kind!r}',
    )


def _text_part(where: str, item: dict[str, Any]) -> TextPart:
    if set(item) - {"type", "text"}:
        raise ContentProblem("invalid_message_content", f'"{where}" takes only type and text')
    text = item.get("text")
    if not isinstance(text, str):
        raise ContentProblem("invalid_message_content", f'"{where}.text" must be a string')
    if not encodable(text):
        raise ContentProblem(
            "invalid_message_content",
            f'"{where}.text" contains an unpaired surrogate escape, which is not text',
        )
    return TextPart(text)


def _image_part(where: str, item: dict[str, Any]) -> ImagePart:
    image = item.get("image_url")
    if set(item) - {"type", "image_url"} or not isinstance(image, dict):
        raise ContentProblem(
            "invalid_image",
            f'"{where}" must be {{"type": "image_url", "image_url": {{"url": ..., '
            '"detail"?: ...}}',
        )
    url, detail = image.get("url"), image.get("detail")
    if set(image) - {"url", "detail"} or not isinstance(url, str):
        raise ContentProblem(
            "invalid_image", f'"{where}.image_url" takes a string "url" and an optional "detail"'
        )
    if detail is not None and detail not in DETAILS:
        raise ContentProblem(
            "invalid_image",
            f'"{where}.image_url.detail" must be one of {", ".join(DETAILS)}, got {detail!r}',
        )
    if url.startswith("data:"):
        _check_data_uri(where, url)
    elif not _is_https_url(url):
        raise ContentProblem(
            "invalid_image_url",
            f'"{where}.image_url.url" must be an https:// URL or a data:image/...;base64, URI',
        )
    return ImagePart(url, detail)


def _check_data_uri(where: str, url: str) -> None:
    match = _DATA_URI.fullmatch(url)
    if match is None:
        raise ContentProblem(
            "invalid_image_url",
            f'"{where}.image_url.url" is a data URI but not data:image/<type>;base64,<data>',
        )
    try:
        binascii.a2b_base64(match["data"], strict_mode=True)
    except (binascii.Error, ValueError):
        raise ContentProblem(
            "invalid_image_url", f'"{where}.image_url.url" holds data that is not valid base64'
        ) from None


def _is_https_url(url: str) -> bool:
    return url.startswith("https://") and len(url) > 8 and not any(c.isspace() for c in url)


def encodable(text: str) -> bool:
    """False for a string holding a lone surrogate (from a JSON escape): not valid as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
