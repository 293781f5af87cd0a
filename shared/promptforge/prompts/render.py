"""Filling a template the way Phoenix's own formatters do, character for character.

MUSTACHE substitutes ``{{ name }}`` (whitespace allowed, a backslash before the braces
escapes them, no HTML escaping: a prompt is not HTML); F_STRING is Python's
``str.format`` (``{{``/``}}`` are literal braces); NONE leaves the text alone. A variable
the template uses and the row lacks is a ``MissingVariables`` naming it; a variable the
template does not use is ignored. (Phoenix: ``phoenix.client.utils.template_formatters``.)
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from promptforge.core.messages import ChatMessage
from promptforge.errors import CodedError

TEMPLATE_FORMATS = ("MUSTACHE", "F_STRING", "NONE")
_MUSTACHE = re.compile(r"(?<!\\){{\s*(\w+)\s*}}")
_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "model": "assistant",
    "ai": "assistant",
}
"""Phoenix's roles as a chat line's (OpenAI's) roles; ``tool`` has none."""


class TemplateProblem(CodedError, ValueError):
    """A template that cannot be filled with a row: ``code`` and a message that says why."""


@dataclass(frozen=True)
class Template:
    """What rendering needs of a version: its messages (role, text parts) and format."""

    messages: tuple[tuple[str, tuple[str, ...]], ...]
    template_format: str

    @classmethod
    def of(cls, version: Mapping[str, object]) -> Template:
        """The template of a stored version (a STR template is one user message)."""
        template = version["template"]
        assert isinstance(template, dict)
        fmt = str(version.get("template_format") or "MUSTACHE")
        if template["type"] == "string":
            return cls((("user", (str(template["template"]),)),), fmt)
        messages = []
        for message in template["messages"]:
            content = message["content"]
            if isinstance(content, str):
                parts: tuple[str, ...] = (content,)
            else:
                parts = tuple(str(part["text"]) for part in content if part["type"] == "text")
                if len(parts) != len(content):
                    raise TemplateProblem(
                        "unsupported_template",
                        "a message has tool_call or tool_result parts; jobs run text messages",
                    )
            messages.append((str(message["role"]), parts))
        return cls(tuple(messages), fmt)

    def variables(self) -> set[str]:
        """Every variable the template uses."""
        return {
            name
            for _, parts in self.messages
            for part in parts
            for name in _parse(part, self.template_format)
        }

    def render(self, variables: Mapping[str, str]) -> tuple[ChatMessage, ...]:
        """The messages with ``variables`` filled in; ``TemplateProblem`` naming what is missing."""
        missing = sorted(self.variables() - set(variables))
        if missing:
            raise TemplateProblem(
                "missing_variable",
                f"variables has no {', '.join(repr(name) for name in missing)}, which the "
                "template uses; add it to the row",
            )
        out = []
        for role, parts in self.messages:
            if role not in _ROLES:
                raise TemplateProblem(
                    "unsupported_template", f"a {role!r} message cannot be sent by a job"
                )
            text = "".join(format_text(part, self.template_format, variables) for part in parts)
            out.append(ChatMessage(_ROLES[role], text))
        return tuple(out)


def _parse(text: str, template_format: str) -> set[str]:
    if template_format == "MUSTACHE":
        return set(_MUSTACHE.findall(text))
    if template_format == "F_STRING":
        try:
            return {field for _, field, _, _ in string.Formatter().parse(text) if field}
        except ValueError as exc:
            raise TemplateProblem("template_error", f"F_STRING template: {exc}") from exc
    return set()


def format_text(text: str, template_format: str, variables: Mapping[str, str]) -> str:
    """One text filled in as Phoenix's formatter for ``template_format`` fills it."""
    names = _parse(text, template_format)
    if template_format == "MUSTACHE":
        for name in names:
            pattern = rf"(?<!\\){{{{\s*{re.escape(name)}\s*}}}}"
            text = re.sub(pattern, _literal(variables[name]), text)
        return text
    if template_format == "F_STRING":
        try:
            return text.format(**variables)
        except (KeyError, IndexError, AttributeError, ValueError) as exc:
            raise TemplateProblem("template_error", f"F_STRING template: {exc!r}") from exc
    return text


def _literal(value: str) -> Callable[[re.Match[str]], str]:
    """A replacement that inserts ``value`` as it is (no backslash or group processing)."""
    return lambda _: value
