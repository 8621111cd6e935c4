"""Generate labelled everyday-arithmetic questions (the answer computed, graded as a number) for
``switchboard collect``.

The development data in ``../shared/data`` holds multiple-choice prompts only, so nothing measures the
judges on the plain questions people type into a chat box ("What is 17 times 23?"). This writes such
questions - products, sums, differences, exact quotients, percentages, squares and one- or two-step word
problems, at three magnitudes, in several phrasings - with the exact answer as the reference and
``"grader": "number"``. The prompts are generated (a seeded template draw, listed below), the answers the
models give to them are real; docs/benchmarks.md reports what the judges measure on them.

The README's own example is left out of every draw so that it is never a training prompt.

    .venv/bin/python benchmarks/arithmetic_prompts.py --n 300 --seed 1 --out out/prompts/arithmetic.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path

README_EXAMPLE = "What is 17 times 23?"

Draw = Callable[[random.Random, tuple[int, int]], tuple[str, int]]


def _two(rng: random.Random, span: tuple[int, int]) -> tuple[int, int]:
    return rng.randint(*span), rng.randint(*span)


def product(rng: random.Random, span: tuple[int, int]) -> tuple[str, int]:
    a, b = _two(rng, span)
    form = rng.choice(["What is {a} times {b}?", "What is {a} × {b}?", "Calculate {a} * {b}.",
                       "What's {a} multiplied by {b}?", "{a} x {b} = ?"])
    return form.format(a=a, b=b), a * b


def total(rng: random.Random, span: tuple[int, int]) -> tuple[str, int]:
    a, b = _two(rng, span)
    form = rng.choice(["What is {a} plus {b}?", "What's {a} + {b}?", "Add {a} and {b}.",
                       "What is the sum of {a} and {b}?"])
    return form.format(a=a, b=b), a + b


def difference(rng: random.Random, span: tuple[int, int]) -> tuple[str, int]:
    a, b = sorted(_two(rng, span), reverse=True)
    form = rng.choice(["What is {a} minus {b}?", "What's {a} - {b}?", "Subtract {b} from {a}.",
                       "How much is {a} take away {b}?"])
    return form.format(a=a, b=b), a - b


def quotient(rng: random.Random, span: tuple[int, int]) -> tuple[str, int]:
    b, q = rng.randint(2, 12 if span[1] < 100 else 25), rng.randint(*span)
    form = rng.choice(["What is {a} divided by {b}?", "What's {a} / {b}?", "Divide {a} by {b}."])
    return form.format(a=b * q, b=b), q


def percent(rng: random.Random, span: tuple[int, int]) -> tuple[str, int]:
    p = rng.choice([5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80])
    n = rng.randint(1, max(2, span[1] // 4)) * 20
    form = rng.choice(["What is {p}% of {n}?", "What's {p} percent of {n}?", "Calculate {p}% of {n}."])
    return form.format(p=p, n=n), p * n // 100


def square(rng: random.Random, span: tuple[int, int]) -> tuple[str, int]:
    a = rng.randint(*span) if span[1] < 100 else rng.randint(20, 99)
    form = rng.choice(["What is {a} squared?", "What is the square of {a}?", "What's {a}^2?"])
    return form.format(a=a), a * a


def word_problem(rng: random.Random, span: tuple[int, int]) -> tuple[str, int]:
    a, b = _two(rng, span)
    c = rng.randint(*span)
    big, small = max(a, b), min(a, b)
    problems = [
        (f"A shop sells pencils at {a} cents each. How many cents do {b} pencils cost?", a * b),
        (f"Tom has {big} marbles and gives away {small}. How many marbles does he have left?", big - small),
        (f"A train travels at {a} km per hour for {b} hours. How many kilometres does it travel?", a * b),
        (f"There are {a} rows of chairs with {b} chairs in each row. How many chairs are there?", a * b),
        (f"What is the sum of {a}, {b} and {c}?", a + b + c),
        (f"I have {big} dollars, spend {small} dollars, then earn {c} dollars. How many dollars do I have now?",
         big - small + c),
        (f"A library has {a} shelves and each shelf holds {b} books. It gets {c} more books. How many books "
         f"does it have?", a * b + c),
        (f"Anna reads {a} pages a day. How many pages does she read in {b} days?", a * b),
    ]
    return rng.choice(problems)


DRAWS: dict[str, Draw] = {"product": product, "sum": total, "difference": difference, "quotient": quotient,
                          "percent": percent, "square": square, "word_problem": word_problem}
SPANS = {"small": (2, 12), "medium": (13, 99), "large": (100, 999)}


def generate(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows, seen = [], {README_EXAMPLE}
    while len(rows) < n:
        kind = rng.choice(sorted(DRAWS))
        size = rng.choice(sorted(SPANS))
        prompt, answer = DRAWS[kind](rng, SPANS[size])
        if prompt in seen:
            continue
        seen.add(prompt)
        rows.append({"prompt_id": f"arith-{seed}-{len(rows):04d}", "prompt": prompt, "category": "arithmetic",
                     "subcategory": f"{kind}-{size}", "reference": str(answer), "grader": "number"})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="out/prompts/arithmetic.jsonl")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = generate(args.n, args.seed)
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} prompts -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
