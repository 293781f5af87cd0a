"""The hostile-input corpus: bad JSONL files, generated, each with the verdict every line must get.

Nothing here is a committed data file: every case is built in code, the 10 MB line and
the 100,000-error file included, so the repository stays small and each expectation sits
next to the bytes it is about. A case lists the line numbers that must come back in
``errors.jsonl`` (with their code and a piece of the message that says what to fix) and
the prompt ids that must run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

MAX_LINE_BYTES = 1_000_000  # the server's default PROMPTFORGE_MAX_LINE_BYTES

LINE_CODES = frozenset(
    {
        "invalid_json",
        "invalid_utf8",
        "not_an_object",
        "missing_prompt_id",
        "invalid_prompt_id",
        "missing_prompt",
        "invalid_prompt",
        "empty_prompt",
        "line_too_long",
        "duplicate_prompt_id",
    }
)


@dataclass(frozen=True)
class Case:
    """One bad file and what must become of each of its lines."""

    name: str
    body: bytes
    errors: dict[int, str]
    """line number → the code of its errors.jsonl line"""
    valid: dict[str, int]
    """prompt_id → the line it is on (each must end in exactly one result line)"""
    hints: dict[int, str]
    """line number → text its error message must contain (what to fix)"""

    @property
    def final_status(self) -> str:
        """COMPLETED, or FAILED when no line is a valid prompt."""
        return "COMPLETED" if self.valid else "FAILED"


@dataclass
class _File:
    """Builds a case line by line, numbering lines as the server does (from 1, blanks too)."""

    lines: list[bytes] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    valid: dict[str, int] = field(default_factory=dict)
    hints: dict[int, str] = field(default_factory=dict)

    def good(
        self, prompt_id: str, prompt: str = "Say hello in one word.", *, raw: bytes | None = None
    ) -> None:
        """A valid prompt line (``raw``: its exact bytes, which must hold ``prompt_id``)."""
        line = raw if raw is not None else json.dumps({"prompt_id": prompt_id, "prompt": prompt})
        self.lines.append(line.encode() if isinstance(line, str) else line)
        self.valid[prompt_id] = len(self.lines)

    def bad(self, raw: bytes | str | object, code: str, hint: str | None = None) -> None:
        if isinstance(raw, str):
            raw = raw.encode()
        elif not isinstance(raw, bytes):
            raw = json.dumps(raw).encode()
        self.lines.append(raw)
        self.errors[len(self.lines)] = code
        if hint is not None:
            self.hints[len(self.lines)] = hint

    def blank(self, raw: bytes = b"") -> None:
        self.lines.append(raw)

    def case(
        self, name: str, *, newline: bytes = b"\n", bom: bool = False, final_newline: bool = True
    ) -> Case:
        body = newline.join(self.lines) + (newline if final_newline else b"")
        if bom:
            body = b"\xef\xbb\xbf" + body
        return Case(name, body, dict(self.errors), dict(self.valid), dict(self.hints))


def malformed_json() -> Case:
    """Truncated objects, single quotes, trailing commas, missing commas, bare words."""
    f = _File()
    f.good("mj-1")
    f.bad('{"prompt_id": "m1", "prompt": "cut off', "invalid_json", "not valid JSON")
    f.bad("{'prompt_id': 'm2', 'prompt': 'single quotes'}", "invalid_json", "column")
    f.bad('{"prompt_id": "m3", "prompt": "trailing comma",}', "invalid_json")
    f.bad('{"prompt_id": "m4" "prompt": "no comma"}', "invalid_json")
    f.bad("prompt_id=m5, prompt=not json", "invalid_json")
    f.bad('{"prompt_id": "m6", "prompt": "x"} {"prompt_id": "m7", "prompt": "y"}', "invalid_json")
    f.good("mj-2")
    return f.case("malformed_json")


def bom_crlf_blank_lines() -> Case:
    """A UTF-8 BOM, CRLF line ends, blank and whitespace-only lines, no final newline."""
    f = _File()
    f.good("crlf-1")
    f.blank()
    f.blank(b"   ")
    f.good("crlf-2")
    f.blank(b"\t")
    f.bad('{"prompt_id": "crlf-x"}', "missing_prompt", '"prompt"')
    f.blank()
    f.good("crlf-3")
    return f.case("bom_crlf_blank_lines", newline=b"\r\n", bom=True, final_newline=False)


def invalid_utf8() -> Case:
    """Latin-1, an overlong encoding, a stray continuation byte, a cut sequence, CESU-8."""
    f = _File()
    f.good("utf-1")
    f.bad(b'{"prompt_id": "u1", "prompt": "caf\xe9"}', "invalid_utf8", "UTF-8")
    f.bad(b'{"prompt_id": "u2", "prompt": "\xc0\xaf"}', "invalid_utf8")
    f.bad(b'{"prompt_id": "u3", "prompt": "\x80"}', "invalid_utf8")
    f.bad(b'{"prompt_id": "u4", "prompt": "euro \xe2\x82"}', "invalid_utf8")
    f.bad(b'{"prompt_id": "u5", "prompt": "\xed\xa0\x80"}', "invalid_utf8")
    f.good("utf-2", "Caf\u00e9, \u65e5\u672c\u8a9e, \U0001f600: well-formed UTF-8")
    return f.case("invalid_utf8")


def prompt_ids() -> Case:
    """Duplicate, missing, non-string, blank, too long, lone-surrogate ids; odd but valid ones."""
    f = _File()
    f.good("dup")
    f.bad({"prompt_id": "dup", "prompt": "again"}, "duplicate_prompt_id", "line 1")
    f.bad({"prompt": "no id"}, "missing_prompt_id", '"prompt_id"')
    f.bad({"prompt_id": 7, "prompt": "x"}, "invalid_prompt_id", "got a JSON number")
    f.bad({"prompt_id": None, "prompt": "x"}, "invalid_prompt_id", "got a JSON null")
    f.bad({"prompt_id": ["a"], "prompt": "x"}, "invalid_prompt_id", "got a JSON array")
    f.bad({"prompt_id": {"id": "a"}, "prompt": "x"}, "invalid_prompt_id", "got a JSON object")
    f.bad({"prompt_id": True, "prompt": "x"}, "invalid_prompt_id", "got a JSON boolean")
    f.bad({"prompt_id": "   ", "prompt": "x"}, "invalid_prompt_id", "non-blank")
    f.bad({"prompt_id": "", "prompt": "x"}, "invalid_prompt_id", "non-blank")
    f.bad({"prompt_id": "x" * 257, "prompt": "x"}, "invalid_prompt_id", "256")
    f.bad('{"prompt_id": "\\udfff", "prompt": "x"}', "invalid_prompt_id", "surrogate")
    f.good("x" * 256)
    f.good("../../etc/passwd")  # an id is data, never a path
    f.good("\u202eevil\u202c-rtl")
    f.good("\u0438\u0434-\U0001f600")
    return f.case("prompt_ids")


def prompts() -> Case:
    """Empty, blank, missing, non-string and unpaired-surrogate prompts."""
    f = _File()
    f.bad({"prompt_id": "e1", "prompt": ""}, "empty_prompt", "empty")
    f.bad({"prompt_id": "e2", "prompt": " \n\t "}, "empty_prompt")
    f.bad({"prompt_id": "e3"}, "missing_prompt", '"prompt"')
    f.bad({"prompt_id": "e4", "prompt": 42}, "invalid_prompt", "got a JSON number")
    f.bad({"prompt_id": "e5", "prompt": ["a", "b"]}, "invalid_prompt", "got a JSON array")
    f.bad({"prompt_id": "e6", "prompt": None}, "invalid_prompt", "got a JSON null")
    f.bad('{"prompt_id": "e7", "prompt": "\\ud800 alone"}', "invalid_prompt", "surrogate")
    f.good("ok-pair", raw=b'{"prompt_id": "ok-pair", "prompt": "a pair is fine: \\ud83d\\ude00"}')
    f.good("ok-extra", raw=b'{"prompt_id": "ok-extra", "prompt": "extra is ignored", "meta": 1}')
    return f.case("prompts")


def not_objects() -> Case:
    """Lines that are JSON but not objects: an array (even of a prompt), string, number, null."""
    f = _File()
    f.bad([{"prompt_id": "a1", "prompt": "in an array"}], "not_an_object", "JSON array")
    f.bad("[]", "not_an_object", "object like")
    f.bad('"just a string"', "not_an_object", "JSON string")
    f.bad("42", "not_an_object", "JSON number")
    f.bad("null", "not_an_object", "JSON null")
    f.bad("true", "not_an_object", "JSON boolean")
    f.bad("{}", "missing_prompt_id")
    f.good("obj-1")
    return f.case("not_objects")


def nested_junk() -> Case:
    """Nesting past any parser's stack, a 5,000-digit number, junk around valid fields."""
    f = _File()
    deep = 100_000
    f.bad(b"[" * deep + b"]" * deep, "invalid_json", "nested too deeply")
    junk = b'{"a": ' * 20_000 + b"1" + b"}" * 20_000
    f.bad(b'{"prompt_id": "n2", "prompt": "x", "junk": ' + junk + b"}", "invalid_json")
    f.bad(b'{"prompt_id": "n3", "prompt": "x", "big": 1' + b"0" * 5000 + b"}", "invalid_json")
    f.bad({"prompt_id": "n4", "prompt": {"text": [[["deep"]]]}}, "invalid_prompt", "JSON object")
    shallow: object = "leaf"
    for _ in range(30):
        shallow = {"k": [shallow]}
    f.good("n5", raw=json.dumps({"prompt_id": "n5", "prompt": "junk by me", "j": shallow}).encode())
    f.good("n6", raw=b'{"prompt_id": "n6", "prompt": "an overflowing float by me", "f": 1e999}')
    return f.case("nested_junk")


def ten_megabyte_line() -> Case:
    """A 10 MB line between two good ones: refused without being buffered, neighbours run."""
    f = _File()
    f.good("big-before")
    huge = b'{"prompt_id": "huge", "prompt": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    f.bad(huge, "line_too_long", f"{MAX_LINE_BYTES:,} bytes")
    f.good("big-after")
    return f.case("ten_megabyte_line")


_ERROR_SHAPES = (
    ('{{"prompt_id": "bad-{i}", "prompt": ', "invalid_json"),
    ('{{"prompt_id": "bad-{i}"}}', "missing_prompt"),
    ('{{"prompt_id": "bad-{i}", "prompt": ""}}', "empty_prompt"),
    ('{{"prompt_id": {i}, "prompt": "x"}}', "invalid_prompt_id"),
    ('["bad-{i}"]', "not_an_object"),
)


def hundred_thousand_errors(count: int = 100_000) -> Case:
    """``count`` distinct bad lines (five kinds in turn) with three good lines among them."""
    f = _File()
    f.good("hk-first")
    for i in range(count):
        template, code = _ERROR_SHAPES[i % len(_ERROR_SHAPES)]
        f.bad(template.format(i=i), code)
        if i == count // 2:
            f.good("hk-middle")
    f.good("hk-last")
    return f.case("hundred_thousand_errors")


def only_bad_lines() -> Case:
    """No line is a prompt: the job FAILS (no_valid_prompts) and errors.jsonl says why."""
    f = _File()
    f.bad("{", "invalid_json")
    f.bad({"prompt_id": "z"}, "missing_prompt")
    f.bad("[1]", "not_an_object")
    return f.case("only_bad_lines")


SMALL_CASES = (
    malformed_json,
    bom_crlf_blank_lines,
    invalid_utf8,
    prompt_ids,
    prompts,
    not_objects,
    nested_junk,
    only_bad_lines,
)
BIG_CASES = (ten_megabyte_line, hundred_thousand_errors)
