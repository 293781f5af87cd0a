"""Build ``shared/promptforge/data/example_prompts.jsonl``: about 3,000 varied example prompts.

Deterministic: a seeded ``random.Random`` combines hand-written templates with the
subjects and texts in ``shared/promptforge/data/example_prompt_parts.json``.
Each task kind has a quota; prompts are unique, shuffled, and numbered ``ex-00001``…

    .venv/bin/python scripts/make_example_prompts.py [--out PATH] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptforge.data import load_json

Maker = Callable[[random.Random], str]

DEFAULT_OUT = (
    Path(__file__).resolve().parent.parent / "shared/promptforge/data/example_prompts.jsonl"
)
DEFAULT_SEED = 20240115
_PARTS: dict[str, Any] = load_json("example_prompt_parts.json")
_TEXTS: dict[str, list[str]] = _PARTS  # the lists of strings
_RECORDS: dict[str, list[list[str]]] = _PARTS  # the lists of fields
_QA = [(p["text"], p["questions"]) for p in _PARTS["paragraphs"]]
_PARAGRAPHS = [body for body, _ in _QA]
_MONTHS = "January February March April May June July August September October November December"


def _pick(rng: random.Random, templates: list[str], **values: str) -> str:
    return rng.choice(templates).format(**values)


def summarize(rng: random.Random) -> str:
    """Summarise one paragraph, in one of many requested shapes."""
    return _pick(
        rng,
        [
            "Summarize the following paragraph in one sentence:\n\n{p}",
            "Summarize in three bullet points:\n\n{p}",
            "Give a TL;DR of this text:\n\n{p}",
            "Summarize this for a busy executive in under 40 words:\n\n{p}",
            "Write a one-line headline for the following text:\n\n{p}",
            "Summarize the text below for a 10-year-old.\n\nText: {p}",
            "What is the main point of this paragraph?\n\n{p}",
            "Condense the following into two sentences, keeping all numbers:\n\n{p}",
            "Summarize:\n{p}",
            'Read the passage and list its three key facts.\n\n"""{p}"""',
        ],
        p=rng.choice(_PARAGRAPHS),
    )


def digest(rng: random.Random) -> str:
    """A longer prompt: two to four paragraphs to digest together."""
    items = rng.sample(_PARAGRAPHS, rng.randint(2, 4))
    numbered = "\n\n".join(f"{i}. {text}" for i, text in enumerate(items, 1))
    return _pick(
        rng,
        [
            "Summarize each of the following items in one sentence:\n\n{items}",
            "Write a short newsletter introduction that covers these updates:\n\n{items}",
            "Which of these texts is the most relevant to a business audience, and why?\n\n{items}",
            "Give each item below a short title, then a one-line summary.\n\n{items}",
        ],
        items=numbered,
    )


def article(rng: random.Random) -> str:
    """Summarise or question one of the three-part articles (a few hundred words)."""
    start = 3 * rng.randrange(len(_TEXTS["article_parts"]) // 3)
    text = "\n\n".join(_TEXTS["article_parts"][start : start + 3])
    return _pick(
        rng,
        [
            "Summarize this article in one paragraph:\n\n{a}",
            "Summarize the article below in five bullet points.\n\n{a}",
            "Write a headline and a two-sentence standfirst for this article:\n\n{a}",
            "What are the main challenges described in this article?\n\n{a}",
            "List the key numbers mentioned in the article and what each refers to.\n\n{a}",
            "Write three interview questions a journalist could ask after reading this:\n\n{a}",
            "Rewrite this article as a short press release.\n\n{a}",
            "Identify the tone of this article and quote one sentence that shows it.\n\n{a}",
            "Turn this article into a timeline of events.\n\n{a}",
            "Summarize for a social media post of at most 280 characters:\n\n{a}",
            "Article:\n{a}\n\nWhat is the most surprising finding? Answer in two sentences.",
        ],
        a=text,
    )


def passage_qa(rng: random.Random) -> str:
    """Answer a question from a passage; sometimes one the passage cannot answer."""
    index = rng.randrange(len(_QA))
    passage, questions = _QA[index]
    if rng.random() < 0.15:
        other = _QA[(index + rng.randrange(1, len(_QA))) % len(_QA)][1]
        return (
            "Answer using only the passage. If the passage does not say, reply "
            f'"Not stated".\n\nPassage: {passage}\n\nQuestion: {rng.choice(other)}'
        )
    return _pick(
        rng,
        [
            "Answer the question using only the passage.\n\nPassage: {p}\n\nQuestion: {q}",
            "Context: {p}\n\nQ: {q}\nA:",
            "Read the text and answer briefly: {q}\n\n{p}",
        ],
        p=passage,
        q=rng.choice(questions),
    )


def paragraph_tasks(rng: random.Random) -> str:
    """Titles, keywords, topic labels and plain-English rewrites of a paragraph."""
    return _pick(
        rng,
        [
            "Suggest a title for this paragraph: {p}",
            "Extract five keywords from the following text, comma-separated:\n\n{p}",
            "Which topic category (science, history, business, technology, health, environment,"
            " local news, other) best fits this text? Answer with one word.\n\n{p}",
            "Write three questions a reader might ask after reading this:\n\n{p}",
            "Rewrite this paragraph in plain English for a non-native speaker:\n\n{p}",
        ],
        p=rng.choice(_PARAGRAPHS),
    )


def translate(rng: random.Random) -> str:
    """Translate an English sentence, or a foreign one into English."""
    if rng.random() < 0.1:
        source, sentence = rng.choice(_RECORDS["foreign_sentences"])
        return _pick(
            rng,
            ["Translate from {src} to English: {s}", 'What does "{s}" mean in English?'],
            src=source,
            s=sentence,
        )
    return _pick(
        rng,
        [
            "Translate to {lang}: {s}",
            "Translate the following sentence into {lang}:\n\n{s}",
            'How do you say "{s}" in {lang}?',
            "Translate into {lang}, keeping a formal tone: {s}",
            "{lang} translation please: {s}",
        ],
        lang=rng.choice(_TEXTS["languages"]),
        s=rng.choice(_TEXTS["sentences"]),
    )


def sentiment(rng: random.Random) -> str:
    """Classify one review's sentiment, or a small batch of them."""
    if rng.random() < 0.12:
        reviews = rng.sample(_TEXTS["reviews"], rng.randint(3, 6))
        listed = "\n".join(f"{i}. {text}" for i, text in enumerate(reviews, 1))
        return (
            "Classify the sentiment of each review as positive, negative, neutral or mixed. "
            f"Return a numbered list of labels only.\n\n{listed}"
        )
    return _pick(
        rng,
        [
            'Classify the sentiment of this review as positive, negative, or neutral:\n\n"{r}"',
            "Is the following review positive or negative? Answer with one word.\n\nReview: {r}",
            "Rate the sentiment of this customer review from 1 (very negative) to 5 (very "
            "positive) and explain briefly.\n\n{r}",
            'Return JSON with keys "sentiment" (positive/negative/neutral/mixed) and "reason" '
            "for this review: {r}",
            "Review: {r}\nSentiment:",
            "Does this review mention a problem with the product? If so, what is it?\n\n{r}",
        ],
        r=rng.choice(_TEXTS["reviews"]),
    )


def entities(rng: random.Random) -> str:
    """Named-entity extraction in several output shapes."""
    return _pick(
        rng,
        [
            "Extract all named entities (people, organizations, locations, dates) from the text "
            "below and return them as JSON.\n\n{t}",
            "List the people, companies and places mentioned in this sentence:\n\n{t}",
            "Extract every date and monetary amount from: {t}",
            "Identify the organizations in the following text. Return one per line.\n\n{t}",
            "Tag each named entity in this text with its type (PERSON, ORG, LOC, DATE, "
            "MONEY):\n\n{t}",
        ],
        t=rng.choice(_TEXTS["entity_texts"]),
    )


def tickets(rng: random.Random) -> str:
    """Route, triage or answer a customer-support message."""
    return _pick(
        rng,
        [
            "Classify this support ticket into one of: {c}. Reply with the category only.\n\n"
            "Ticket: {t}",
            "Categorize the customer message below ({c}) and rate its urgency as low, medium "
            "or high.\n\n{t}",
            "Write a short, friendly first reply to this customer message:\n\n{t}",
            'Return JSON {{"category": ..., "needs_human": true/false}} for this ticket. '
            "Categories: {c}.\n\n{t}",
        ],
        c=_PARTS["ticket_categories"],
        t=rng.choice(_TEXTS["tickets"]),
    )


def poem(rng: random.Random) -> str:
    """A short poem in a given form about a topic, sometimes with a style."""
    style = f" {rng.choice(_TEXTS['poem_styles'])}" if rng.random() < 0.45 else ""
    verb = rng.choice(["Write", "Write", "Compose"])
    form = rng.choice(_TEXTS["poem_forms"])
    return f"{verb} {form} about {rng.choice(_TEXTS['poem_topics'])}{style}."


def factual(rng: random.Random) -> str:
    """A factual question, sometimes with a length instruction."""
    return rng.choice(_TEXTS["question_styles"]).format(q=rng.choice(_TEXTS["questions"]))


def word_task(rng: random.Random) -> str:
    """Very short vocabulary prompts."""
    return rng.choice(_TEXTS["word_tasks"]).format(w=rng.choice(_TEXTS["words"]))


def explain(rng: random.Random) -> str:
    """Explain a concept to a given audience."""
    return _pick(
        rng,
        [
            "Explain {c} to {a}.",
            "How would you explain {c} to {a}? Use an analogy.",
            "Explain {c} in simple terms, as if talking to {a}.",
            "Explain {c} to {a} in three sentences.",
        ],
        c=rng.choice(_TEXTS["concepts"]),
        a=rng.choice(_TEXTS["audiences"]),
    )


def rewrite(rng: random.Random) -> str:
    """Rewrite an informal message in another register."""
    return _pick(
        rng,
        [
            "Rewrite this message in a formal, professional tone:\n\n{m}",
            "Make this sound more polite: {m}",
            "Rewrite the following as a clear email to a manager:\n\n{m}",
            "Turn this chat message into proper English with correct capitalization and "
            "punctuation: {m}",
            "Rewrite formally: {m}",
            "Rewrite this for a customer-facing announcement:\n\n{m}",
        ],
        m=rng.choice(_TEXTS["informal_messages"]),
    )


def grammar(rng: random.Random) -> str:
    """Correct a sentence with grammar mistakes."""
    return _pick(
        rng,
        [
            "Correct the grammar in this sentence: {s}",
            "Fix any grammar or spelling mistakes and explain each correction:\n\n{s}",
            "Proofread: {s}",
            "Is this sentence grammatically correct? If not, rewrite it.\n\n{s}",
        ],
        s=rng.choice(_TEXTS["grammar_errors"]),
    )


def product(rng: random.Random) -> str:
    """A product description from a name, a kind and its features."""
    name, kind, features = rng.choice(_RECORDS["products"])
    article = "an" if kind[0].lower() in "aeiou" else "a"
    return rng.choice(_TEXTS["description_specs"]).format(
        name=name, kind=kind, a_kind=f"{article} {kind}", features=features
    )


def sql(rng: random.Random) -> str:
    """SQL from a schema and a request, in a given dialect."""
    schema, questions = rng.choice(_RECORDS["sql_schemas"])
    return _pick(
        rng,
        [
            "Write a {d} query for this schema: {s}. Return {q}.",
            "Given the tables {s}, write SQL ({d}) to find {q}.",
            "Table definitions: {s}\n\nTask: find {q}.\n\nWrite the {d} query only.",
        ],
        d=rng.choice(_TEXTS["sql_dialects"]),
        s=schema,
        q=rng.choice(questions.split(" ; ")),
    )


def email(rng: random.Random) -> str:
    """Draft an email for an everyday work or life situation."""
    return _pick(
        rng,
        [
            "Write an email to {s}. Tone: {t}.",
            "Draft a {t} email to {s}.",
            "Help me write a short message to {s}.",
        ],
        s=rng.choice(_TEXTS["email_situations"]),
        t=rng.choice(_TEXTS["email_tones"]),
    )


def code_write(rng: random.Random) -> str:
    """Write a small function in a given language."""
    return _pick(
        rng,
        [
            "Write a {lang} function that {d}.",
            "Write a {lang} function that {d}. Include a short comment and two example calls.",
            "In {lang}, how would I write a function that {d}?",
            "Write a {lang} function that {d}, with unit tests.",
        ],
        lang=rng.choice(_TEXTS["programming_languages"]),
        d=rng.choice(_TEXTS["functions"]),
    )


def code_explain(rng: random.Random) -> str:
    """Explain or comment a code snippet."""
    return _pick(
        rng,
        [
            "Explain what this code does:\n\n```\n{c}\n```",
            "What does the following code do, and can it be improved?\n\n{c}",
            "Add comments to this code explaining each step:\n\n{c}",
            "Explain this to a junior developer line by line:\n\n{c}",
        ],
        c=rng.choice(_TEXTS["code_snippets"]),
    )


def regex(rng: random.Random) -> str:
    """Write a regular expression."""
    return _pick(
        rng,
        [
            "Write a regular expression that matches {n}.",
            "Give me a regex for {n}, and explain each part.",
            "Write a Python regex to find {n} in a text.",
        ],
        n=rng.choice(_TEXTS["regex_needs"]),
    )


def brainstorm(rng: random.Random) -> str:
    """List ideas or names."""
    return _pick(
        rng,
        [
            "Give me {n} {s}.",
            "Brainstorm {n} {s}.",
            "List {n} {s}, with a one-line explanation for each.",
        ],
        n=str(rng.choice([3, 5, 5, 10, 10, 15, 20])),
        s=rng.choice(_TEXTS["brainstorm"]),
    )


def compare(rng: random.Random) -> str:
    """Compare two options for a purpose."""
    first, second, context = rng.choice(_RECORDS["compare"])
    return _pick(
        rng,
        [
            "Compare {a} and {b} {c}.",
            "What are the pros and cons of {a} versus {b} {c}?",
            "{A} or {b} {c}? Give a recommendation in a short paragraph.",
            "Make a table comparing {a} and {b} {c}.",
        ],
        a=first,
        A=first[0].upper() + first[1:],
        b=second,
        c=context,
    )


def social(rng: random.Random) -> str:
    """A social-media post announcing something."""
    return _pick(
        rng,
        [
            "Write {p} announcing {x}.",
            "Write {p} about {x}. Keep it upbeat and include a call to action.",
        ],
        p=rng.choice(_TEXTS["platforms"]),
        x=rng.choice(_TEXTS["announcements"]),
    )


def outline(rng: random.Random) -> str:
    """Outlines, intros and hooks for a piece of writing."""
    return rng.choice(_TEXTS["outline_kinds"]).format(topic=rng.choice(_TEXTS["essay_topics"]))


def recipe(rng: random.Random) -> str:
    """Cook something from a few ingredients under a constraint."""
    first, second, third = rng.sample(_TEXTS["ingredients"], 3)
    return _pick(
        rng,
        [
            "Suggest a recipe using {a}, {b} and {c} {k}.",
            "I have {a}, {b} and {c} at home. What can I cook {k}?",
            "Give me a shopping list and steps for a dinner with {a} and {b} {k}.",
        ],
        a=first,
        b=second,
        c=third,
        k=rng.choice(_TEXTS["meal_constraints"]),
    )


def math_problem(rng: random.Random) -> str:
    """An arithmetic word problem with random numbers."""
    r = rng.randint
    name = rng.choice(_TEXTS["first_names"])
    x = r(-9, 12)
    a = rng.choice([2, 3, 4, 5, 6, 7, 8])
    b = r(1, 40)
    problems = [
        f"A train travels {r(120, 900)} km in {r(2, 9)} hours. What is its average speed in km/h?",
        f"A jacket costs ${r(40, 250)}. It is on sale for {rng.choice([10, 15, 20, 25, 30, 40])}%"
        " off. What is the sale price?",
        f"If {r(2, 6)} workers can paint a house in {r(6, 20)} days, how long would it take "
        f"{r(7, 12)} workers working at the same rate?",
        f"{name} has {r(10, 60)} stickers, gives {r(1, 9)} to a friend and buys {r(5, 30)} more."
        f" How many stickers does {name} have now?",
        f"A rectangle is {r(3, 40)} cm wide and {r(41, 90)} cm long. What are its area and "
        "perimeter?",
        f"You invest ${r(5, 50) * 100} at {rng.choice([2, 3, 4, 5, 6])}% annual interest "
        f"compounded yearly. How much will you have after {r(2, 15)} years?",
        f"A recipe for {r(2, 4)} people needs {r(10, 50) * 10} grams of flour. How much flour is"
        f" needed for {r(5, 12)} people?",
        f"Convert {r(3, 300)} miles to kilometers.",
        f"What is {rng.choice([5, 12, 15, 18, 35, 62, 75])}% of {r(40, 2000)}?",
        f"Solve for x: {a}x + {b} = {a * x + b}.",
        f"A car uses {r(4, 9)} liters of fuel per 100 km. How much fuel is needed for a "
        f"{r(50, 900)} km trip, and what will it cost at {r(150, 220) / 100:.2f} per liter?",
    ]
    suffix = rng.choice(["", "", " Show your work.", " Explain step by step.", " Only the answer."])
    return rng.choice(problems) + suffix


def structured(rng: random.Random) -> str:
    """Extract fields as JSON from a synthetic bio or invoice."""
    first, last = rng.choice(_TEXTS["first_names"]), rng.choice(_TEXTS["last_names"])
    company, previous = rng.sample(_TEXTS["companies"], 2)
    month, year = rng.choice(_MONTHS.split()), rng.randint(2015, 2025)
    if rng.random() < 0.5:
        city = rng.choice(_TEXTS["cities"])
        text = (
            f"{first} {last} joined {company} in {city} as {rng.choice(_TEXTS['roles'])}"
            f" in {month} {year}. Before that, {first} spent {rng.randint(2, 12)} years at"
            f" {previous}."
        )
        keys = "name, company, city, role, start_date, previous_employer, years_at_previous"
    else:
        qty, price = rng.randint(2, 400), rng.randint(3, 900)
        text = (
            f"Invoice INV-{rng.randint(1000, 99999)} from {company} to {previous}, dated "
            f"{rng.randint(1, 28)} {month} {year}, for {qty} units at {price} EUR each, total "
            f"{qty * price:,} EUR. Payment due within {rng.choice([14, 30, 45, 60])} days."
        )
        keys = "invoice_number, seller, buyer, date, quantity, unit_price, total, due_days"
    return _pick(
        rng,
        [
            "Extract the following fields as JSON ({k}):\n\n{t}",
            "Return a JSON object with keys {k} for this text. Use null for anything "
            "missing.\n\n{t}",
        ],
        k=keys,
        t=text,
    )


QUOTAS: dict[str, tuple[Maker, int]] = {
    "summarize": (summarize, 220),
    "digest": (digest, 80),
    "article": (article, 30),
    "passage_qa": (passage_qa, 110),
    "paragraph_tasks": (paragraph_tasks, 90),
    "translate": (translate, 240),
    "sentiment": (sentiment, 200),
    "entities": (entities, 90),
    "tickets": (tickets, 100),
    "poem": (poem, 210),
    "factual": (factual, 210),
    "word_task": (word_task, 50),
    "explain": (explain, 160),
    "rewrite": (rewrite, 110),
    "grammar": (grammar, 80),
    "product": (product, 140),
    "sql": (sql, 110),
    "email": (email, 100),
    "code_write": (code_write, 90),
    "code_explain": (code_explain, 45),
    "regex": (regex, 35),
    "brainstorm": (brainstorm, 70),
    "compare": (compare, 60),
    "social": (social, 60),
    "outline": (outline, 90),
    "recipe": (recipe, 60),
    "math": (math_problem, 90),
    "structured": (structured, 70),
}


def build(seed: int = DEFAULT_SEED) -> list[dict[str, str]]:
    """All example prompts, shuffled, with ids ``ex-00001``…; raises if a quota cannot be met."""
    rng = random.Random(seed)
    seen: set[str] = set()
    prompts: list[str] = []
    for kind, (maker, quota) in QUOTAS.items():
        made, attempts = 0, 0
        while made < quota:
            attempts += 1
            if attempts > quota * 200:
                raise SystemExit(f"{kind}: only {made} unique prompts for a quota of {quota}")
            text = maker(rng)
            if text not in seen:
                seen.add(text)
                prompts.append(text)
                made += 1
    rng.shuffle(prompts)
    return [{"prompt_id": f"ex-{i:05d}", "prompt": text} for i, text in enumerate(prompts, 1)]


def main() -> None:
    """Write the JSONL file and print its size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    rows = build(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    words = sorted(len(row["prompt"].split()) for row in rows)
    print(
        f"wrote {len(rows)} prompts to {args.out} ({args.out.stat().st_size / 1e6:.2f} MB); "
        f"words per prompt: min {words[0]}, median {words[len(words) // 2]}, max {words[-1]}"
    )


if __name__ == "__main__":
    main()
