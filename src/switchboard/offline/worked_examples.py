"""Worked examples for few-shot self-verification, built from labelled prompts: for a few prompts of a
category, the reference answer (graded CORRECT) and a wrong one (graded INCORRECT).

``switchboard collect`` shows each prompt's self-verification the examples of its own category (never
built from that prompt itself) and writes them to ``examples.json``; ``switchboard train`` puts each
region's examples - the very ones its verdicts were measured with - into the judge policy, so the request
path shows what was measured. A wrong answer is made from the reference by the prompt's grader: another
option letter for multiple choice, a different number for arithmetic; an exact-text reference has no wrong
twin here and gives only its correct example.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

from switchboard.domain.judging import WorkedExample
from switchboard.domain.verdicts import MAX_EXAMPLES

SOURCES_PER_CATEGORY = 3  # a prompt that is a source itself uses the other two
EXAMPLE_QUESTION_CHARS = 600  # a long (few-shot) prompt is shown by its tail: the question being asked
_OPTION = re.compile(r"^\s*([A-J])[).:]", re.MULTILINE)


class Labelled(Protocol):
    @property
    def prompt_id(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def reference(self) -> str: ...
    @property
    def grader(self) -> str: ...


def _tail(text: str, limit: int = EXAMPLE_QUESTION_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    start = cut.find("\n\n")
    return "..." + (cut[start:] if 0 <= start < limit // 2 else cut)


def wrong_answer(prompt: Labelled) -> str | None:
    """An answer the grader marks wrong: the next option letter the prompt's question offers, or the
    reference number plus an amount of its size; None for exact-text references."""
    reference = prompt.reference.strip()
    if prompt.grader == "choice":
        letters = sorted(set(_OPTION.findall(_tail(prompt.prompt)))) or ["A", "B"]
        others = [x for x in letters if x != reference.upper()]
        return others[0] if others else None
    if prompt.grader == "number":
        try:
            value = float(reference.replace(",", ""))
        except ValueError:
            return None
        wrong = value + max(1.0, round(abs(value) * 0.1))
        return f"The answer is {int(wrong) if wrong.is_integer() else wrong}."
    return None


def _right_answer(prompt: Labelled) -> str:
    return f"The answer is {prompt.reference.strip()}." if prompt.grader == "number" else prompt.reference.strip()


def _rank(prompt_id: str) -> str:
    return hashlib.sha256(prompt_id.encode()).hexdigest()


def example_sources(prompts: Sequence[Labelled]) -> dict[str, list[Labelled]]:
    """Per category, the prompts its examples are built from: ``SOURCES_PER_CATEGORY`` of them, chosen
    by a fixed hash of their ids (so every run, and every split, builds the same)."""
    by_category: dict[str, list[Labelled]] = {}
    for prompt in sorted(prompts, key=lambda p: _rank(p.prompt_id)):
        chosen = by_category.setdefault(prompt.category, [])
        if len(chosen) < SOURCES_PER_CATEGORY:
            chosen.append(prompt)
    return by_category


def examples_for(prompt: Labelled, sources: dict[str, list[Labelled]]) -> list[WorkedExample]:
    """The worked examples ``prompt``'s self-verification is shown: right and wrong answers to other
    prompts of its category (never to itself), at most ``MAX_EXAMPLES``."""
    out: list[WorkedExample] = []
    for source in [s for s in sources.get(prompt.category, []) if s.prompt_id != prompt.prompt_id][:2]:
        question = _tail(source.prompt)
        out.append(WorkedExample(question=question, answer=_right_answer(source), correct=True))
        wrong = wrong_answer(source)
        if wrong is not None:
            out.append(WorkedExample(question=question, answer=wrong, correct=False))
    return out[:MAX_EXAMPLES]
