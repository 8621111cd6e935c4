"""Answer equivalence on the request path: typed keys, numbers within a tolerance, free text by similarity."""

from __future__ import annotations

import pytest

from switchboard.domain.answers import canonical_answer, group_answers, same_answer


@pytest.mark.parametrize(("response", "key"), [
    ("42", "num:42"),
    ("17 × 23 = 391", "num:391"),
    ("Step by step... The answer is 3.5.", "num:3.5"),
    ("#### 1,234", "num:1234"),
    ("$5", "num:5"),
    ("Paris.", "text:paris"),
    ("It has 4 legs and 2 eyes", "text:it has 4 legs and 2 eyes"),
    ("", None),
])
def test_free_form_answers_are_typed(response, key):
    assert canonical_answer(response, "What is it?") == key


def test_option_letters_and_code_keep_their_keys():
    assert canonical_answer("B", "Which?\nA) wood\nB) iron\nAnswer:") == "B"
    assert canonical_answer("```python\ndef f(x):\n    return x\n```", "Write a function to copy x.").startswith("py:")


def test_numbers_agree_within_a_relative_tolerance_and_texts_by_similarity():
    assert same_answer("num:0.1", "num:0.10000000001")
    assert not same_answer("num:0.1", "num:0.11")
    assert not same_answer("text:paris", "text:the capital is paris")
    assert same_answer("text:paris", "text:the capital is paris", similar=lambda a, b: "paris" in a and "paris" in b)
    assert not same_answer(None, None) and not same_answer("A", None)
    assert not same_answer("num:1", "text:1", similar=lambda a, b: True)  # different kinds never agree


def test_groups_number_distinct_answers_in_order_of_first_appearance():
    assert group_answers(["num:2", "B", None, "num:2.0000000001", "B", "text:x"]) == [0, 1, -1, 0, 1, 2]
