"""The decomposer's reply is read strictly: a valid list of task blocks of *this* request becomes parts that
are the caller's own words; anything else is no decomposition (never an error)."""

from __future__ import annotations

import json

import pytest

from switchboard.domain.costs import budget_shares, decomposer_bound, input_token_bound
from switchboard.domain.decomposition import (
    DECOMPOSER_MAX_TOKENS,
    MAX_PARTS,
    Block,
    blocks_of,
    decomposer_grammar,
    decomposer_messages,
    outline,
    parse_split,
    part_request,
    part_texts,
    split_reply,
)
from switchboard.domain.requests import ChatRequest, Message
from tests.support.fakes import catalog_entry

FEW_SHOT = "Is 7 prime?\nA) yes\nB) no\nAnswer:\nA\n\nIs 9 prime?\nA) yes\nB) no\nAnswer:"
MMLU = "Stack is also known as\n\n(A) FIFO memory\n(B) LIFO memory"
COMPOUND = f"Question 1:\n{FEW_SHOT}\n\nQuestion 2:\n{MMLU}\n\nAlso:\nWrite a haiku about rain."


def test_blocks_are_paragraphs_with_opening_headings_split_off() -> None:
    assert blocks_of(COMPOUND) == [
        Block(1, 1, heading=True), Block(2, 6), Block(8, 11), Block(13, 13, heading=True), Block(14, 14),
        Block(16, 17), Block(19, 19, heading=True), Block(20, 20)]
    assert blocks_of("a\n\n---\n\nb") == [Block(1, 1), Block(3, 3, heading=True), Block(5, 5)]
    # "Answer:" closing a paragraph is not a heading, and neither is a long line ending in a colon
    assert not any(b.heading for b in blocks_of("Which is it?\nA) x\nAnswer:\n\nHere is the list of items:\n- a"))


def test_outline_shows_each_block_on_one_line_with_its_last_line_s_end() -> None:
    shown = outline(COMPOUND).split("\n")
    assert shown[0] == "[1] Question 1:"
    assert shown[1] == "[2] Is 7 prime? | A) yes | .. | A"  # the inside of a long block left out
    assert shown[2] == "[3] Is 9 prime? | A) yes | .. | Answer:"
    long_line = "x" * 200 + " Answer:"
    assert outline(f"q\n{long_line}\nmore\nend " + long_line).endswith("... " + long_line[-60:])


def test_a_reply_marking_task_blocks_becomes_parts_in_the_callers_own_words() -> None:
    split, why = parse_split('{"marks":"--T--T-T"}', COMPOUND)
    assert split is not None and why == "3 parts"
    assert part_texts(COMPOUND, split) == [FEW_SHOT, MMLU, "Write a haiku about rain."]


def test_a_fenced_or_spaced_reply_is_read_too() -> None:
    split, _ = parse_split('```json\n{ "marks": "--T--T-T" }\n```', COMPOUND)
    assert split is not None and len(part_texts(COMPOUND, split)) == 3


def test_blocks_after_the_last_task_belong_to_the_last_part() -> None:
    split, _ = parse_split('{"marks":"--T--T--"}', COMPOUND)
    assert split is not None
    assert part_texts(COMPOUND, split) == [FEW_SHOT, f"{MMLU}\n\nAlso:\nWrite a haiku about rain."]


@pytest.mark.parametrize(("reply", "why"), [
    ("not json", "not a reply of the schema"),
    ('{"tasks":[1,2]}', "not a reply of the schema"),
    ('{"marks":"--T--T-T","extra":1}', "not a reply of the schema"),
    ('{"marks":""}', "not a reply of the schema"),
    ('{"marks":"--X--T-T"}', "not a reply of the schema"),
    ('{"marks":"--T--T-"}', "7 marks for 8 blocks"),
    ('{"marks":"-------T"}', "a single task"),
    ('{"marks":"--------"}', "no task"),
    ('{"marks":"--TT---T"}', "a heading marked as a task"),
])
def test_anything_but_a_valid_decomposition_is_none_and_says_why(reply: str, why: str) -> None:
    split, reason = parse_split(reply, COMPOUND)
    assert split is None and why in reason


def test_more_tasks_than_parts_allowed_is_no_decomposition() -> None:
    text = "\n\n".join(f"Question number {k}?" for k in range(MAX_PARTS + 1))
    split, reason = parse_split(json.dumps({"marks": "T" * (MAX_PARTS + 1)}), text)
    assert split is None and "more than" in reason


def test_split_reply_marks_the_blocks_where_known_parts_end_and_reads_back_exactly() -> None:
    ranges = [(2, 11), (14, 17), (20, 20)]
    reply = split_reply(COMPOUND, ranges)
    assert json.loads(reply) == {"marks": "--T--T-T"}
    split, _ = parse_split(reply, COMPOUND)
    assert split is not None and split.ranges == ranges


def test_a_local_model_is_held_to_one_mark_a_block() -> None:
    assert decomposer_grammar(COMPOUND) == 'root ::= "{\\"marks\\":\\"" [T-]{8} "\\"}"'


def test_a_part_request_keeps_the_conversation_limits_and_bar_with_its_own_budget() -> None:
    request = ChatRequest(messages=[Message(role="system", content="be brief"), Message(role="user", content="a"),
                                    Message(role="assistant", content="b"), Message(role="user", content=COMPOUND)],
                          max_tokens=64, quality=0.8, max_cost_usd=1.0, profile="economy")
    part = part_request(request, "Write a haiku about rain.", 0.25)
    assert [m.content for m in part.messages] == ["be brief", "a", "b", "Write a haiku about rain."]
    assert (part.max_tokens, part.quality, part.profile, part.max_cost_usd) == (64, 0.8, "economy", 0.25)


def test_the_decomposer_s_bound_covers_its_instructions_the_outline_and_the_longest_reply() -> None:
    request = ChatRequest(messages=[Message(role="user", content=COMPOUND + " 日本語" * 50)])
    entry = catalog_entry("m", price=2.0)
    messages = decomposer_messages(request)
    assert decomposer_bound(request, entry) == pytest.approx(
        entry.price.cost(input_token_bound(messages), DECOMPOSER_MAX_TOKENS))
    assert messages[-1].content.startswith("[1] Question 1:") and messages[0].role == "system"


def test_budget_shares_add_up_to_the_budget_in_proportion_to_each_part_s_bound() -> None:
    catalog = {"m": catalog_entry("m")}
    parts = [ChatRequest(messages=[Message(role="user", content=text)]) for text in ("short", "x" * 4000)]
    shares = budget_shares(0.01, parts, "m", [], catalog)
    assert sum(shares) == pytest.approx(0.01)
    assert shares[1] > 3 * shares[0] > 0
