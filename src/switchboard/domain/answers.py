"""Answer normalisation: turn a recorded response into a comparable answer, or None (the judge abstains).

- Multiple choice (the prompt lists lettered options, as in MMLU-Pro, ARC, Winogrande): the option letter.
  CoT responses are read like MMLU-Pro's own extractor ("the answer is (X)", then "Answer: X", then the
  last standalone option letter); short responses take a leading letter ("B", "B)", "(B)") or the text of
  an option ("Dennis" -> the option whose text that is). A refusal or anything else gives None.
- Code (MBPP-style "write a function"): the code block, parsed and canonicalised (comments, docstrings,
  tests and example calls dropped; identifiers renamed in order of appearance), so two programs that
  differ only in naming or layout compare equal. Unparseable code falls back to whitespace-free text.
- Anything else: lower-cased text with whitespace collapsed and trailing punctuation removed.

Only ``response`` and ``prompt`` are read, never a reference answer, so it is safe at decision time.
"""

from __future__ import annotations

import ast
import builtins
import re
import warnings
from functools import lru_cache

_LETTERS = "ABCDEFGHIJ"
# "(A) text" / "A) text" / "A. text" at the start of a line.
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])[).:]\s+(.+?)\s*$", re.MULTILINE)
_CODE_BLOCK = re.compile(r"```[ \t]*(?:python|py|Python)?[ \t]*\r?\n(.*?)(?:```|$)", re.DOTALL)
_PY_TAGS = re.compile(r"\[PYTHON\](.*?)(?:\[/PYTHON\]|$)", re.DOTALL)
_CODE_HINT = re.compile(r"^\s*(def |class |import |from \S+ import )", re.MULTILINE)
_CODE_TASK = re.compile(r"\b(write a (python )?function|write a program|python function|def \w+\()", re.I)


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
    text = _norm_text(response)
    return text or None
