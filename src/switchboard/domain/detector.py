"""The compound-request detector: cheap rules that decide whether a request may hold several tasks, so
that the decomposer is asked only then (a request of one task pays for these rules and nothing else).

Two cues count the tasks a request asks, each from the request's text alone:

- ``open_choices``: multiple-choice questions still to answer - runs of option lines (``A) ...``,
  ``(A) ...``, ``A. ...``) not followed by their answer. A few-shot prompt's worked examples are answered
  ("Answer: B", or "Answer:" then "B"), so they do not count; its final question does.
- ``asks``: blocks (paragraphs, headings such as "Also:" apart: ``decomposition.blocks_of``) that ask something - their last line ends in a
  question mark, or they open with an instruction verb ("Write", "Explain", "Translate"...) - and that
  are not a worked example (their last line is not an answer).

The request may be compound when either cue reaches two. Rules rather than the encoder and a classifier:
they cost microseconds, need no training data of compound requests, and say why they fired (the cues are
in the trace); their precision and recall are measured by ``switchboard eval --compound``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .decomposition import blocks_of

_OPTION = re.compile(r"^\s*(?:\(([A-Ja-j])\)|([A-J])[.):])\s+\S")
_ANSWER_INLINE = re.compile(r"\banswer\s*(?:is)?\s*[:=]?\s*\(?[A-J]\)?\s*\.?\s*$", re.I)
_ANSWER_SLOT = re.compile(r"\banswer\s*:\s*$", re.I)
_LONE_LETTER = re.compile(r"^\s*\(?[A-J]\)?\s*\.?\s*$")
_VERBS = ("write", "explain", "translate", "summarise", "summarize", "compute", "calculate", "find", "list",
          "describe", "give", "name", "solve", "implement", "create", "define", "prove", "convert", "compare",
          "suggest", "draft", "rewrite", "classify", "identify", "determine", "estimate", "outline")
_IMPERATIVE = re.compile(r"^\s*(?:please\s+)?(?:" + "|".join(_VERBS) + r")\b", re.I)
THRESHOLD = 2


@dataclass(frozen=True)
class Detection:
    """Whether the request may be compound, and the cues that say so."""

    compound: bool
    open_choices: int
    asks: int

    def cues(self) -> dict[str, int]:
        return {"open_choices": self.open_choices, "asks": self.asks}


def _option_letter(line: str) -> str | None:
    match = _OPTION.match(line)
    if match is None:
        return None
    return (match.group(1) or match.group(2)).upper()


def _answered(line: str, following: str | None) -> bool:
    """Whether a line (and the one after it) gives an answer: "Answer: B", or "Answer:" then "B"."""
    if _ANSWER_INLINE.search(line) and not _ANSWER_SLOT.search(line):
        return True
    return bool(_ANSWER_SLOT.search(line) and following is not None and _LONE_LETTER.match(following))


def open_choices(text: str) -> int:
    """Multiple-choice questions in ``text`` still to be answered (see the module docstring)."""
    lines = text.split("\n")
    lists: list[int] = []  # the line each option list starts on
    expected = None
    for i, line in enumerate(lines):
        letter = _option_letter(line)
        if letter == "A" and expected != "B":
            lists.append(i)
            expected = "B"
        elif letter is not None and expected is not None and letter == expected:
            expected = chr(ord(letter) + 1)
        elif line.strip() and letter is None and expected not in (None, "B"):
            expected = None  # the options ended (a lone "A" line is not a list)
    count = 0
    for k, start in enumerate(lists):
        end = lists[k + 1] if k + 1 < len(lists) else len(lines)
        if not any(_answered(lines[j], lines[j + 1] if j + 1 < len(lines) else None) for j in range(start, end)):
            count += 1
    return count


def asks(text: str) -> int:
    """Blocks of ``text`` that ask something and are not a worked example."""
    count = 0
    all_lines = text.split("\n")
    for block in blocks_of(text):
        if block.heading:
            continue
        lines = all_lines[block.first - 1:block.last]
        last = lines[-1].strip()
        if _LONE_LETTER.match(last) or (len(lines) > 1 and _answered(lines[-2], last)) or _answered(last, None):
            continue  # a worked example: the question with its answer
        if last.endswith("?") or _IMPERATIVE.match(lines[0]):
            count += 1
    return count


def detect(text: str) -> Detection:
    """Whether ``text`` (the request's last user message) may ask several things (see the module docstring)."""
    choices, questions = open_choices(text), asks(text)
    return Detection(compound=choices >= THRESHOLD or questions >= THRESHOLD, open_choices=choices,
                     asks=questions)
