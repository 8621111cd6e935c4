from switchboard.domain.answers import extract_answer, extract_choice, normalize_code, parse_options

ARC = ("Q1?\nA) x\nB) y\nAnswer:\nA\n\nWhich is a metal?\nA) wood\nB) iron\nC) glass\nD) paper\n"
       'Print only a single choice from "A" or "B" or "C" or "D" without explanation.\nAnswer:')
WINO = "Sarah was a better surgeon than Maria so _ got the harder cases.\nA) Maria\nB) Sarah\nAnswer:"


def test_options_of_the_last_question():
    assert parse_options(ARC) == {"A": "wood", "B": "iron", "C": "glass", "D": "paper"}
    assert parse_options("no options here") == {}


def test_short_letters_and_option_text():
    assert extract_answer("arc-challenge", "B", ARC) == "B"
    assert extract_answer("arc-challenge", "B\n", ARC) == "B"
    assert extract_answer("arc-challenge", "(C)", ARC) == "C"
    assert extract_answer("arc-challenge", "D (paper)", ARC) == "D"
    assert extract_answer("winogrande", "Sarah", WINO) == "B"
    assert extract_answer("winogrande", "A)", WINO) == "A"


def test_refusals_and_ambiguous_text_abstain():
    assert extract_answer("arc-challenge", "I do", ARC) is None
    assert extract_answer("arc-challenge", "Unfortunately I", ARC) is None
    assert extract_answer("arc-challenge", "", ARC) is None


def test_option_text_is_not_read_as_a_letter():
    prompt = "Which?\nA) A hypothesis\nB) A law\nAnswer:"
    assert extract_answer("arc-challenge", "A law", prompt) == "B"


def test_chain_of_thought_like_mmlu_pro():
    assert extract_choice("Reasoning... so the answer is (H).") == "H"
    assert extract_choice("Step 1 ... Answer: C") == "C"
    assert extract_answer("physics", "Long reasoning that ends with the answer is (J).") == "J"


def test_code_is_canonicalised():
    a = "Here:\n```python\ndef perimeter(side):\n    '''doc'''\n    return 5 * side\n```\nTry it."
    b = "[PYTHON]\ndef pentagon(x):  # five sides\n    return 5 * x\n[/PYTHON]\n[TESTS]\nassert pentagon(1) == 5\n"
    c = "```python\ndef f(x):\n    return 6 * x\n```"
    assert normalize_code(a) == normalize_code(b)
    assert normalize_code(a) != normalize_code(c)
    assert extract_answer("mbpp", a, "Write a function to find the perimeter of a pentagon.") == normalize_code(a)


def test_unparseable_code_falls_back_to_text():
    assert normalize_code("```python\ndef broken(:\n```").startswith("txt:")
