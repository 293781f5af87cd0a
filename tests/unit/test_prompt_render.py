"""Rendering is Phoenix's own formatters' output, character for character (Phoenix is the
oracle here), and a missing variable is named, never rendered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from phoenix.client.utils.template_formatters import (
    F_STRING_TEMPLATE_FORMATTER,
    MUSTACHE_TEMPLATE_FORMATTER,
    NO_OP_FORMATTER,
)

from promptforge.prompts.render import Template, TemplateProblem, format_text

PHOENIX = {
    "MUSTACHE": MUSTACHE_TEMPLATE_FORMATTER,
    "F_STRING": F_STRING_TEMPLATE_FORMATTER,
    "NONE": NO_OP_FORMATTER,
}
VALUES = {"a": "<b>bold</b> & \\1 \\g<0> {{b}} {x}", "b": "B", "c": ""}
CASES = [
    ("MUSTACHE", "Hi {{a}} and {{ b }} and {{   c}}!"),
    ("MUSTACHE", "escaped \\{{a}} stays, {{a}}{{a}} twice, {{unknown-dash}} not a name"),
    ("MUSTACHE", "{{{a}}} triple braces, {{ a } broken"),
    ("F_STRING", "{a} then {{literal}} and {b!r:>5}"),
    ("F_STRING", "no variables {{}}"),
    ("NONE", "{{a}} and {a} stay as they are"),
]


@pytest.mark.parametrize(("template_format", "text"), CASES)
def test_each_format_matches_phoenix(template_format: str, text: str) -> None:
    expected = PHOENIX[template_format].format(text, variables=VALUES)
    assert format_text(text, template_format, VALUES) == expected


@given(
    text=st.text(alphabet="{} ab\\c_<&>\n", max_size=40),
    values=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=10), max_size=3),
)
def test_mustache_matches_phoenix_on_any_text(text: str, values: dict[str, str]) -> None:
    try:
        expected = MUSTACHE_TEMPLATE_FORMATTER.format(text, variables=values)
    except Exception:
        with pytest.raises(TemplateProblem):
            Template((("user", (text,)),), "MUSTACHE").render(values)
        return
    [message] = Template((("user", (text,)),), "MUSTACHE").render(values)
    assert message.content == expected


def test_a_missing_variable_is_named() -> None:
    template = Template.of(
        {
            "template_format": "MUSTACHE",
            "template": {
                "type": "chat",
                "messages": [
                    {"role": "system", "content": "{{tone}}"},
                    {"role": "user", "content": [{"type": "text", "text": "{{name}} {{day}}"}]},
                ],
            },
        }
    )
    assert template.variables() == {"tone", "name", "day"}
    with pytest.raises(TemplateProblem) as caught:
        template.render({"tone": "calm"})
    assert caught.value.code == "missing_variable"
    assert "'day', 'name'" in caught.value.message
    rendered = template.render({"tone": "calm", "name": "Ann", "day": "Mon", "unused": "x"})
    assert [(m.role, m.content) for m in rendered] == [("system", "calm"), ("user", "Ann Mon")]


def test_a_string_template_is_one_user_message_and_roles_map_to_chat_roles() -> None:
    template = Template.of(
        {"template_format": "F_STRING", "template": {"type": "string", "template": "Q: {q}"}}
    )
    assert [(m.role, m.content) for m in template.render({"q": "why"})] == [("user", "Q: why")]
    roles = [("developer", "system"), ("ai", "assistant"), ("model", "assistant")]
    for phoenix_role, chat_role in roles:
        [message] = Template(((phoenix_role, ("x",)),), "NONE").render({})
        assert message.role == chat_role
    with pytest.raises(TemplateProblem, match="tool"):
        Template((("tool", ("x",)),), "NONE").render({})
