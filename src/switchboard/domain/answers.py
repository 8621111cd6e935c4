"""Answer normalisation: turn a recorded response into a comparable answer, or None (the judge abstains).

- Multiple choice (the prompt lists lettered options, as in MMLU-Pro, ARC, Winogrande): the option letter.
  CoT responses are read like MMLU-Pro's own extractor ("the answer is (X)", then "Answer: X", then the
  last standalone option letter); short responses take a leading letter ("B", "B)", "(B)") or the text of
  an option ("Dennis" -> the option whose text that is). A refusal or anything else gives None.
- Code (MBPP-style "write a function"): the code block, parsed and canonicalised (comments, docstrings,
  tests and example calls dropped; identifiers renamed in order of appearance), so two programs that
  differ only in naming or layout compare equal. Unparseable code falls back to whitespace-free text.
- A number (the response is a number, or states one as its result: "#### 42", "the answer is 42",
  "= 42" at its end): ``num:<value>``; two numbers agree within a relative tolerance of 1e-6.
- Anything else: ``text:`` + lower-cased text with whitespace collapsed and trailing punctuation removed;
  two texts agree when their embeddings' cosine similarity reaches a bar fitted in training (an exact
  match when no embedding function is given).

Only ``response`` and ``prompt`` are read, never a reference answer, so it is safe at decision time, and
the request path (``canonical_answer``) and training (``offline.outcomes``) read answers with these functions.
"""

from __future__ import annotations

import ast
import builtins
import re
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache

_LETTERS = "ABCDEFGHIJ"
# "(A) text" / "A) text" / "A. text" at the start of a line.
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[).:]\s+(.+?)\s*$", re.MULTILINE)
_CODE_BLOCK = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\r?\n(.*?)(?:```|$)", re.DOTALL)
_PY_TAGS = re.compile(r"\[PYTHON\](.*?)(?:\[/PYTHON\]|$)", re.DOTALL)
_CODE_HINT = re.compile(r"^\s*(def |class |import |from \S+ import )", re.MULTILINE)
_CODE_TASK = re.compile(r"\b(write (a |an )?(python )?function|write a program|python function|def \w+\()", re.I)


def parse_options(prompt: str | None) -> dict[str, str]:
    """The lettered options of the *last* question in ``prompt`` (few-shot prompts repeat the pattern).

    Returns letter -> option text; empty when the prompt has no lettered options.
    """
    if not prompt:
        return {}
    options: dict[str, str] = {}
    last_start = None
    for match in _OPTION_LINE.finditer(prompt):
        letter = match.group(1)
        if letter == "A":
            last_start = match.start()
    if last_start is None:
        return {}
    for match in _OPTION_LINE.finditer(prompt, last_start):
        letter, text = match.group(1), match.group(2)
        expected = _LETTERS[len(options)] if len(options) < len(_LETTERS) else None
        if letter != expected:
            break
        options[letter] = text
    return options if len(options) >= 2 else {}


def is_code_task(category: str | None, prompt: str | None) -> bool:
    cat = (category or "").lower()
    if cat in {"mbpp", "humaneval", "code", "coding"}:
        return True
    return bool(prompt and _CODE_TASK.search(prompt[:500])) and not parse_options(prompt)


def _norm_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(" .!\"'").lower()


def extract_choice(response: str | None, letters: str = _LETTERS, options: dict[str, str] | None = None
                   ) -> str | None:
    """The option letter a response chooses, or None."""
    if not response:
        return None
    text = response.strip()
    if not text:
        return None
    set_ = re.escape(letters)
    # Short answers: "B", "B)", "(B)", "B.", "B:", "B (" ...
    short = re.match(rf"^\(?([{set_}])\s*(?:[).:\](,]|$|\n)", text)
    if short:
        return short.group(1)
    lowered = _norm_text(text)
    if options and len(text) <= 200:
        for letter, option in options.items():
            option_norm = _norm_text(option)
            if option_norm and (lowered == option_norm
                                or (len(lowered) >= 3 and option_norm.startswith(lowered))
                                or (len(option_norm) >= 3 and lowered.startswith(option_norm))):
                return letter
    # CoT: MMLU-Pro's extractor order.
    for pattern in (rf"answer is \(?([{set_}])\)?", rf"[aA]nswer:\s*\(?([{set_}])\)?",
                    rf"answer is:?\s*\**\s*\(?([{set_}])\)?\b"):
        found = re.findall(pattern, text)
        if found:
            return found[-1]
    if len(text) > 40:
        last = re.findall(rf"\b([{set_}])\b", text)
        if last:
            return last[-1]
    return None


_BUILTINS = frozenset(dir(builtins))


class _Canon(ast.NodeTransformer):
    """Rename identifiers in order of first appearance; drop docstrings."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name in _BUILTINS:
            return name
        if name not in self.names:
            self.names[name] = f"v{len(self.names)}"
        return self.names[name]

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._name(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def _strip_doc(self, node):  # noqa: ANN001, ANN202
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self._name(node.name)
        node.returns = None
        self._strip_doc(node)
        self.generic_visit(node)
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = self._name(node.name)
        self._strip_doc(node)
        self.generic_visit(node)
        return node


def _code_of(response: str) -> str:
    blocks = _PY_TAGS.findall(response) or _CODE_BLOCK.findall(response)
    if blocks:
        return max(blocks, key=len)
    hint = _CODE_HINT.search(response)
    return response[hint.start():] if hint else response


@lru_cache(maxsize=65536)
def normalize_code(response: str) -> str | None:
    """Canonical form of the program in ``response`` (definitions and imports only), None when empty."""
    code = _code_of(response).replace("\r\n", "\n").strip("\n")
    if not code.strip():
        return None
    for candidate in (code, code.split("\n\n#")[0]):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # recorded code may hold invalid escapes like "\d"
                tree = ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
        keep: list[ast.stmt] = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                        ast.Import, ast.ImportFrom))]
        if not keep:
            break
        tree.body = keep
        canon = _Canon().visit(tree)
        return "py:" + ast.unparse(ast.fix_missing_locations(canon))
    text = re.sub(r"\s+", "", code)
    return ("txt:" + text) if text else None


def extract_answer(category: str | None, response: str | None, prompt: str | None = None) -> str | None:
    """The comparable answer of ``response`` (see the module docstring); None when extraction fails."""
    if response is None:
        return None
    options = parse_options(prompt)
    if options:
        return extract_choice(response, "".join(options), options)
    if prompt is None and (category or "").lower() not in {"mbpp", "humaneval", "code", "coding"}:
        # No prompt to read options from: MMLU-Pro style letters A-J.
        choice = extract_choice(response)
        if choice is not None:
            return choice
    if is_code_task(category, prompt):
        return normalize_code(response)
    number = _number_answer(response)
    if number is not None:
        return number
    text = _norm_text(response)
    return f"text:{text}" if text else None


def canonical_answer(response: str | None, prompt: str | None) -> str | None:
    """The comparable answer of a live response to ``prompt`` (no category label: a request has none)."""
    return extract_answer(None, response, prompt)


_NUMBER = r"[-+]?\$?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?"
_STATED = re.compile(rf"(?:####|answer is:?|answer:|=)\s*\**\s*({_NUMBER})\s*%?\**\s*\.?\s*$", re.IGNORECASE)
_BARE = re.compile(rf"^\s*({_NUMBER})\s*%?\s*\.?\s*$")


def _number_answer(response: str) -> str | None:
    """``num:<value>`` when the response is a number or ends by stating one; None otherwise."""
    text = response.strip()
    match = _BARE.match(text) or _STATED.search(text[-200:])
    if match is None:
        return None
    try:
        value = float(match.group(1).replace(",", "").replace("$", ""))
    except ValueError:
        return None
    return f"num:{int(value)}" if value.is_integer() and abs(value) < 1e15 else f"num:{value!r}"


NUMBER_TOLERANCE = 1e-6


def same_answer(a: str | None, b: str | None, similar: Callable[[str, str], bool] | None = None) -> bool:
    """Whether two answer keys say the same thing (None never agrees with anything).

    Numbers agree within a relative tolerance; free texts agree when ``similar(a_text, b_text)`` (an
    embedding-similarity test with the bar fitted in training) says so, else only when equal.
    """
    if a is None or b is None:
        return False
    if a == b:
        return True
    if a.startswith("num:") and b.startswith("num:"):
        x, y = float(a[4:]), float(b[4:])
        return abs(x - y) <= NUMBER_TOLERANCE * max(1.0, abs(x), abs(y))
    if a.startswith("text:") and b.startswith("text:") and similar is not None:
        return similar(a[5:], b[5:])
    return False


def group_answers(keys: Sequence[str | None], similar: Callable[[str, str], bool] | None = None) -> list[int]:
    """Number the distinct answers among ``keys`` in order of first appearance (None -> -1): each key
    joins the first earlier group whose first key it agrees with (``same_answer``)."""
    heads: list[str] = []
    ids: list[int] = []
    for key in keys:
        if key is None:
            ids.append(-1)
            continue
        for gid, head in enumerate(heads):
            if same_answer(key, head, similar):
                ids.append(gid)
                break
        else:
            heads.append(key)
            ids.append(len(heads) - 1)
    return ids
