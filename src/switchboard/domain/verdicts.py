"""Judge prompts and verdict parsing (pure). Running them against a model happens in the service layer.

Two judges run on the request path by default:
- ``llm_judge``: a rubric prompt asks a model for a one-word verdict on the candidate answer.
- ``self_verify`` (AutoMix): the answering model checks its own answer with a few-shot prompt, sampled k
  times; the score is the share of "correct" verdicts.
An output that cannot be parsed is an abstention (score None), never an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .models import Message

_MAX_FIELD_CHARS = 6000

LLM_JUDGE_SYSTEM = (
    "You are a strict grader. You check whether an answer to a user's request is correct and actually "
    "answers it. Reply with exactly one word: CORRECT or INCORRECT."
)

SELF_VERIFY_SHOTS = (
    ("What is the capital of Australia?", "The capital of Australia is Sydney.", "INCORRECT"),
    ("What is 12 * 11?", "12 * 11 = 132.", "CORRECT"),
    ("Write a Python expression that reverses the list xs.", "xs[::-1]", "CORRECT"),
    ("How many legs does a spider have?", "A spider has six legs.", "INCORRECT"),
)


# Appended to an answer that hit the token limit: a judge that cannot see it was cut off grades the
# half-answer it was shown, and small models call a correct-looking derivation with no result CORRECT.
TRUNCATED_NOTE = "[the answer was cut off here by the length limit; judge only what it states]"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_FIELD_CHARS else text[:_MAX_FIELD_CHARS] + " [...]"


def _shown_answer(answer: str, truncated: bool) -> str:
    return f"{_clip(answer)} {TRUNCATED_NOTE}" if truncated else _clip(answer)


def llm_judge_messages(question: str, answer: str, truncated: bool = False) -> list[Message]:
    user = (f"Request:\n{_clip(question)}\n\nAnswer:\n{_shown_answer(answer, truncated)}\n\n"
            "Is the answer correct? Reply with one word: CORRECT or INCORRECT.")
    return [Message(role="system", content=LLM_JUDGE_SYSTEM), Message(role="user", content=user)]


def self_verify_messages(question: str, answer: str, truncated: bool = False,
                         shots: Sequence[tuple[str, str, str]] = SELF_VERIFY_SHOTS) -> list[Message]:
    """AutoMix-style few-shot verification prompt: worked examples, then the case to verify."""
    messages = [Message(role="system", content="You verify answers. For each request and answer, say "
                                                "whether the answer is CORRECT or INCORRECT. One word.")]
    for q, a, verdict in shots:
        messages.append(Message(role="user", content=f"Request: {q}\nAnswer: {a}\nVerdict:"))
        messages.append(Message(role="assistant", content=verdict))
    messages.append(Message(role="user", content=f"Request: {_clip(question)}\n"
                                                 f"Answer: {_shown_answer(answer, truncated)}\nVerdict:"))
    return messages


_VERDICT = re.compile(r"\b(incorrect|not correct|wrong|false|no|correct|right|true|yes)\b", re.IGNORECASE)
_NEGATIVE = {"incorrect", "not correct", "wrong", "false", "no"}


def parse_verdict(text: str) -> float | None:
    """1.0 for a positive verdict, 0.0 for a negative one, None when the output says neither.

    The first verdict word wins, so "INCORRECT, the correct value is 4" reads as negative.
    """
    match = _VERDICT.search(text or "")
    if match is None:
        return None
    return 0.0 if match.group(1).lower() in _NEGATIVE else 1.0


def share_positive(verdicts: Sequence[float | None]) -> float | None:
    """Self-verification score: share of positive verdicts among the parseable samples."""
    parsed = [v for v in verdicts if v is not None]
    if not parsed:
        return None
    return sum(parsed) / len(parsed)
