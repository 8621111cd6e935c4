"""The compound-request detector fires on requests that ask several things and stays quiet on one question,
few-shot examples included."""

from __future__ import annotations

import pytest

from switchboard.domain.detector import asks, detect, open_choices

ARC = ("George wants to warm his hands. Which surface will produce the most heat?\nA) dry palms\nB) wet palms\n"
       "Answer:\nA\n\nWhich best explains why magnets stick to a refrigerator?\nA) smooth\nB) iron\nAnswer:\nB\n\n"
       "A fold in layers of rock most likely resulted from the\nA) cooling\nB) converging plates\nAnswer:")
WINO = ("He never comes to my home because the _ is bigger.\nA) home\nB) house\nPrint one. Answer:\nB\n\n"
        "Sarah was a better surgeon than Maria so _ got the harder cases.\nA) Maria\nB) Sarah\nPrint one. Answer:")
MMLU = "Stack is also known as\n\n(A) FIFO memory\n(B) Flash memory\n(C) LIFO memory\n(D) LILO memory"
MMLU_TWO_PARTS = ("(a) Compute the flow rate of steam. (b) What would be the flow rate if water is used instead?\n\n"
                  "(A) 500 and 80\n(B) 450 and 75\n(C) 200 and 30")


@pytest.mark.parametrize("single", [ARC, WINO, MMLU, MMLU_TWO_PARTS, "What is 17 times 23?",
                                    "Write a Python function that checks whether a number is prime",
                                    "Tell me about Paris.\n\nIt is lovely in spring."])
def test_one_task_is_not_compound(single: str) -> None:
    assert not detect(single).compound


@pytest.mark.parametrize("compound", [f"{ARC}\n\n{MMLU}", f"Question 1:\n{WINO}\n\nQuestion 2:\n{ARC}",
                                      f"{MMLU}\n\n---\n\n{MMLU_TWO_PARTS}",
                                      "What is 17 times 23?\n\nWhat is the capital of Australia?",
                                      "Write a function that reverses a string.\n\nAlso:\nExplain what a closure is."])
def test_several_tasks_are_compound(compound: str) -> None:
    assert detect(compound).compound


def test_worked_examples_are_not_open_questions() -> None:
    assert open_choices(ARC) == 1 and open_choices(WINO) == 1 and open_choices(MMLU) == 1
    assert open_choices(f"{ARC}\n\n{WINO}\n\n{MMLU}") == 3
    assert asks("What is 2+2?\nA) 3\nB) 4\nAnswer: B\n\nWhat is 3+3?") == 1  # the first is answered


def test_the_cues_say_why_it_fired() -> None:
    assert detect(f"{ARC}\n\n{MMLU}").cues() == {"open_choices": 2, "asks": 0}
