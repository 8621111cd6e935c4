import pytest

from switchboard.domain.judges import llm_judge_messages, parse_verdict, self_verify_messages, share_positive


@pytest.mark.parametrize("text,expected", [
    ("CORRECT", 1.0), ("correct.", 1.0), ("INCORRECT", 0.0), ("Incorrect, the right value is 4", 0.0),
    ("Yes", 1.0), ("No.", 0.0), ("  The answer is wrong", 0.0), ("Verdict: CORRECT", 1.0),
    ("", None), ("I cannot tell", None), ("4", None), (None, None),
])
def test_parse_verdict(text, expected):
    assert parse_verdict(text) == expected


def test_share_positive_counts_only_parseable_samples():
    assert share_positive([1.0, 0.0, None, 1.0]) == 2 / 3
    assert share_positive([None, None]) is None


def test_judge_prompts_carry_question_and_answer_and_clip_huge_fields():
    msgs = llm_judge_messages("What is 2+2?", "4")
    assert msgs[0].role == "system" and "2+2" in msgs[-1].content and "4" in msgs[-1].content
    few_shot = self_verify_messages("Q?", "A" * 10000)
    assert few_shot[-1].content.count("A") < 7000
    assert [m.role for m in few_shot[1:3]] == ["user", "assistant"]
