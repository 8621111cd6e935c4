"""Decomposition: asking a catalogue model where a request's separate tasks are, and reading its answer.

A request that holds several independent tasks ("answer these three questions") can be answered part by
part, each part routed and cascaded on its own. The decomposer is an ordinary catalogue model asked for a
constrained, schema-checked reply: the request is cut into **blocks** (its paragraphs, with a heading line
such as "Question 2:" or "Also:" a block of its own), the model sees an outline of them - one line a block -
and replies with one mark a block, ``T`` for a block that holds a task to do now and ``-`` for any other
(``{"marks":"-T--T"}``). Part k then runs from the block after task k-1 to task k's block - so the worked
examples and instructions before a question stay with it - without the headings between tasks.

Why marks over an outline rather than each part's line range or its text: the parts are the caller's own
words (never a paraphrase a small model got wrong); the reply is one token a block; and a mark is a local
decision a small model can make block by block, where asked for line ranges or for the task blocks' numbers
the local pool's models copied the demonstration's shape or listed every block (docs/benchmarks.md,
"Decomposition"). A local model is held to exactly one mark a block by a grammar; others are told, and
``parse_split`` checks.

``parse_split`` accepts a reply only when it is a valid decomposition of *this* text: well-formed JSON of
the schema, one mark for each block, at least two tasks, none of them a heading. Anything else is no
decomposition - the request is answered whole - never an error.

Pure: no I/O. The service (``service.decomposing``) makes the call; ``domain.costs`` bounds it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .requests import ChatRequest, Message

MAX_PARTS = 6
MAX_BLOCKS = 200  # a longer request is not decomposed (its outline would cost the decomposer too much)
DECOMPOSER_MAX_TOKENS = MAX_BLOCKS + 16  # {"marks":"..."}: one character a block, at most one token each
# A block's lines in the outline are cut to this many characters (its first line's start, its last line's
# end): the decomposer needs the request's structure, not every word, so a long request costs it a fraction
# of its tokens.
LINE_VIEW_CHARS = 60
# A heading: a line of at most this many words that ends with ":" ("Question 2:", "Also:"), or a rule ("---").
HEADING_WORDS = 4
TASK, OTHER = "T", "-"

DECOMPOSER_SCHEMA: dict = {
    "type": "object",
    "properties": {"marks": {"type": "string", "pattern": "^[T-]+$", "maxLength": MAX_BLOCKS}},
    "required": ["marks"],
    "additionalProperties": False,
}

DECOMPOSER_INSTRUCTIONS = """Mark the tasks in a request. The request is shown as numbered blocks (long lines \
are cut short with "...", the inside of long blocks is left out with ".."). Reply with one mark per block, in \
order: T for a block that asks a question the user wants answered now or gives an instruction to carry out, \
- for every other block.
- A block that already shows its answer (it ends with the answer, e.g. a letter after "Answer:") is a worked \
example: -.
- Headings ("Question 2:", "Also:", "---") and text a task refers to: -.
- If the request asks one thing, or one task needs another's answer, mark only the block where it asks.
Reply with JSON only: {"marks":"<one mark per block>"}"""
# Worked demonstrations, sent as earlier turns of the conversation (small models follow a shown exchange far
# better than a described one); the same prefix on every call, so a local model's prompt cache keeps it.
DECOMPOSER_DEMOS = (
    ("[1] Question 1:\n[2] Is 7 a prime number? | A) yes | .. | Answer: A\n"
     "[3] Is 9 a prime number? | A) yes | .. | Answer:\n[4] Question 2:\n[5] Is 4 even? | A) yes | .. | B\n"
     "[6] Is 5 even? | A) yes | .. | Answer:", '{"marks":"--T--T"}'),
    ("[1] What is the capital of France?\n[2] Also:\n[3] Write a haiku about rain.", '{"marks":"T-T"}'),
    ("[1] Summarise the text below, then translate your summary into German.\n"
     "[2] The museum reopened in May after two years of ... | .. | ... visitors queued for hours.",
     '{"marks":"T-"}'),
)


def decomposer_grammar(text: str) -> str:
    """The reply a local model may give for ``text``, as a llama.cpp grammar: compact JSON with exactly one
    mark per block (JSON-schema grammars allow free whitespace, which small models fill with tokens)."""
    count = max(1, min(len(blocks_of(text)), MAX_BLOCKS))
    return f'root ::= "{{\\"marks\\":\\"" [T-]{{{count}}} "\\"}}"'


@dataclass(frozen=True)
class Block:
    """A block of the request: its first and last line (1-based, inclusive); ``heading`` for a heading line."""

    first: int
    last: int
    heading: bool = False


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marks: str = Field(pattern=r"^[T-]+$", max_length=MAX_BLOCKS)


class Split(BaseModel):
    """A decomposition of a text: each part's line range (1-based, inclusive), in order."""

    ranges: list[tuple[int, int]] = Field(min_length=2, max_length=MAX_PARTS)


def lines_of(text: str) -> list[str]:
    """The text's lines (split on newlines only, so slices rejoin exactly)."""
    return text.split("\n")


def _heading(line: str) -> bool:
    words = line.split()
    return (0 < len(words) <= HEADING_WORDS and line.rstrip().endswith(":")) or bool(
        re.fullmatch(r"[-=*_~#]{3,}", line.strip()))


def blocks_of(text: str) -> list[Block]:
    """The text's blocks: maximal runs of non-blank lines, with a heading line that opens a run (and is not
    all of it) a block of its own."""
    lines = lines_of(text)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        end = i
        while end + 1 < len(lines) and lines[end + 1].strip():
            end += 1
        if end > i and _heading(lines[i]):
            blocks.append(Block(i + 1, i + 1, heading=True))
            i += 1
        blocks.append(Block(i + 1, end + 1, heading=_heading(lines[i]) and end == i))
        i = end + 1
    return blocks


def _cut(line: str, width: int, tail: bool = False) -> str:
    """The line cut to ``width`` characters: its start, or with ``tail`` its end (where a block's last line
    says whether its question is answered: "... Answer:" or "... Answer: B")."""
    line = line.strip()
    if len(line) <= width:
        return line
    return "... " + line[-width:].lstrip() if tail else line[:width].rstrip() + " ..."


def outline(text: str, width: int = LINE_VIEW_CHARS) -> str:
    """The request as the decomposer sees it: its blocks numbered, each on one line - its first two lines
    and its last (that one's end), joined by " | ", the rest left out ("..")."""
    lines = lines_of(text)
    shown = []
    for k, block in enumerate(blocks_of(text), start=1):
        count = block.last - block.first + 1
        first = [_cut(lines[block.first - 1 + j], width) for j in range(min(2, count))]
        if count > 3:
            first.append("..")
        last = [_cut(lines[block.last - 1], width, tail=True)] if count >= 3 else []
        shown.append(f"[{k}] " + " | ".join(first + last))
    return "\n".join(shown)


def decomposer_messages(request: ChatRequest) -> list[Message]:
    """The decomposer's conversation: the instructions, the worked demonstrations, and the outline of the
    request's last user message."""
    demos = [message for shown, reply in DECOMPOSER_DEMOS
             for message in (Message(role="user", content=shown), Message(role="assistant", content=reply))]
    return [Message(role="system", content=DECOMPOSER_INSTRUCTIONS), *demos,
            Message(role="user", content=outline(request.prompt))]


def decomposer_format() -> dict:
    """The OpenAI ``response_format`` that constrains the decomposer to the schema (OpenAI-compatible
    endpoints; local models get ``decomposer_grammar``; others are told and checked by ``parse_split``)."""
    return {"type": "json_schema", "json_schema": {"name": "decomposition", "schema": DECOMPOSER_SCHEMA}}


def _json_of(reply: str) -> object:
    text = reply.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.S)
    return json.loads(fenced.group(1) if fenced else text)


def parse_split(reply: str, text: str) -> tuple[Split | None, str]:
    """The decomposition of ``text`` a decomposer's ``reply`` states, or None and why it is not one.

    The reply must mark every block of the outline, no more, no fewer; one task (the request asks one
    thing, or its tasks depend on each other) is no decomposition, and a heading marked as a task is a
    misread outline. Part k runs from the block after task k-1 (the first block for k = 1) to task k's
    block, headings left out; blocks after the last task (an instruction that follows it) belong to the
    last part."""
    try:
        marks = _Reply.model_validate(_json_of(reply)).marks
    except (ValueError, ValidationError) as exc:
        return None, f"not a reply of the schema ({type(exc).__name__})"
    blocks = blocks_of(text)
    if len(marks) != len(blocks):
        return None, f"{len(marks)} marks for {len(blocks)} blocks"
    tasks = [k for k, mark in enumerate(marks, start=1) if mark == TASK]
    if len(tasks) < 2:
        return None, "a single task" if tasks else "no task"
    if len(tasks) > MAX_PARTS:
        return None, f"more than {MAX_PARTS} tasks"
    if any(blocks[t - 1].heading for t in tasks):
        return None, "a heading marked as a task"
    ranges = []
    start = 0
    for k, task in enumerate(tasks):
        end = len(blocks) if k == len(tasks) - 1 else task
        own = [b for b in blocks[start:end] if not b.heading]
        ranges.append((own[0].first, own[-1].last))
        start = task
    return Split(ranges=ranges), f"{len(ranges)} parts"


def part_texts(text: str, split: Split) -> list[str]:
    """Each part's text: its lines, exactly as the caller wrote them."""
    lines = lines_of(text)
    return ["\n".join(lines[first - 1:last]) for first, last in split.ranges]


def split_reply(text: str, ranges: list[tuple[int, int]]) -> str:
    """The reply that marks, as tasks, the blocks where these line ranges end (what ``parse_split`` reads):
    used where the parts are known, e.g. a decomposer simulated from a join's boundaries."""
    blocks = blocks_of(text)
    ends = {last for _, last in ranges}
    marks = "".join(TASK if any(b.first <= e <= b.last for e in ends) else OTHER for b in blocks)
    return json.dumps({"marks": marks}, separators=(",", ":"))


def part_request(request: ChatRequest, text: str, max_cost_usd: float | None) -> ChatRequest:
    """The request for one part: the caller's conversation with its last user message replaced by the
    part's text, the caller's limits and accuracy bar, and the part's share of the budget."""
    messages = list(request.messages)
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    last = users[-1] if users else len(messages) - 1
    messages[last] = messages[last].model_copy(update={"content": text})
    return request.model_copy(update={"messages": messages, "max_cost_usd": max_cost_usd})
