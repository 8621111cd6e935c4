import pytest

from switchboard.domain.verdicts import (
    llm_judge_messages,
    parse_verdict,
    self_verify_messages,
    share_positive,
)


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


def test_judges_are_told_when_the_answer_was_cut_off_by_the_length_limit():
    from switchboard.domain.models import Candidate, ChatRequest, JudgeSpec, JudgeTask, Message
    from switchboard.domain.verdicts import TRUNCATED_NOTE
    from switchboard.service.tasks import run_judge
    from tests.support.fakes import ScriptedProvider, ScriptedProviders, catalog_entry

    shown: list[str] = []

    def grader(messages):
        shown.append(messages[-1].content)
        return "INCORRECT" if TRUNCATED_NOTE in messages[-1].content else "CORRECT"

    providers = ScriptedProviders({"a": ScriptedProvider(), "j": ScriptedProvider(grader)})
    catalog = {m: catalog_entry(m) for m in ("a", "j")}
    request = ChatRequest(messages=[Message(role="user", content="What is 17 times 23?")])
    for finish, expected in (("length", 0.0), ("stop", 1.0)):
        candidate = Candidate(model="a", text="17 x 23 = 17 x 20 + 17 x 3 = 340 +", finish_reason=finish)
        for judge in (JudgeSpec(kind="llm_judge", model="j"), JudgeSpec(kind="self_verify", model="j", samples=2)):
            verdict = run_judge(JudgeTask(judge=judge, request=request, candidate=candidate), catalog, providers)
            assert verdict.score == expected, (finish, judge.kind)
    assert sum(TRUNCATED_NOTE in text for text in shown) == 3  # 1 llm_judge + 2 self-verify samples
