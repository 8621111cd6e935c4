"""Recorded routing outcomes: load the long Parquet format (one row per prompt x model) into dense arrays.

Schema: ../shared/data/README.md (prompt_id, prompt, category, subcategory, reference, model, response,
pred, correct, input_tokens, output_tokens, cost_usd). ``RecordedOutcomes`` keeps what a strategy may read
at decision time (prompts, responses, extracted answers, costs) apart from the labels (``correct``,
``reference``), which only training and final scoring read.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from switchboard.domain.answers import canonical_answer, group_answers

REQUIRED_COLUMNS = ("prompt_id", "prompt", "category", "model", "response", "correct", "cost_usd")


@dataclass
class Labels:
    """What only training and scoring may read: graded correctness (NaN = ungraded) and gold answers."""

    correct: np.ndarray  # (n, k) float, NaN where the benchmark did not grade the call
    reference: np.ndarray  # (n,) object, None where the benchmark grades otherwise


@dataclass
class RecordedOutcomes:
    """Dense view of a recorded dataset: ``n`` prompts x ``k`` models.

    ``answers[i, j]`` is the normalised answer of model j on prompt i (None when extraction failed:
    judges abstain); ``answer_ids`` numbers the distinct answers of each prompt (-1 for None) so
    agreement is an integer comparison.
    """

    name: str
    prompt_ids: np.ndarray
    prompts: list[str]
    categories: np.ndarray
    models: list[str]
    responses: np.ndarray
    answers: np.ndarray
    answer_ids: np.ndarray
    cost: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    labels: Labels
    # True when ``answers`` are the benchmark's own recorded extraction (``pred``), not read from responses
    answers_recorded: bool = False
    # seconds each call took when the data records it (``latency_ms``, as ``switchboard collect`` writes)
    latency_s: np.ndarray | None = None
    # each answer's mean token log-probability where the data records it (``mean_logprob``: ``switchboard
    # collect`` writes what the provider returned); NaN where it did not, None when the column is absent
    mean_logprob: np.ndarray | None = None
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self._index:
            self._index = {p: i for i, p in enumerate(self.prompts)}

    @property
    def n(self) -> int:
        return len(self.prompt_ids)

    @property
    def k(self) -> int:
        return len(self.models)

    def model_index(self, model: str) -> int:
        try:
            return self.models.index(model)
        except ValueError as exc:
            raise KeyError(f"unknown model {model!r}; known: {self.models}") from exc

    def prompt_index(self, prompt: str) -> int | None:
        """Row of the prompt whose text is exactly ``prompt`` (first one when a text repeats)."""
        return self._index.get(prompt)

    def subset(self, rows: Sequence[int] | np.ndarray, name: str | None = None) -> RecordedOutcomes:
        rows = np.asarray(rows, dtype=int)
        return RecordedOutcomes(
            name=name or self.name, prompt_ids=self.prompt_ids[rows], prompts=[self.prompts[i] for i in rows],
            categories=self.categories[rows], models=list(self.models), responses=self.responses[rows],
            answers=self.answers[rows], answer_ids=self.answer_ids[rows], cost=self.cost[rows],
            input_tokens=self.input_tokens[rows], output_tokens=self.output_tokens[rows],
            labels=Labels(correct=self.labels.correct[rows], reference=self.labels.reference[rows]),
            answers_recorded=self.answers_recorded,
            latency_s=None if self.latency_s is None else self.latency_s[rows],
            mean_logprob=None if self.mean_logprob is None else self.mean_logprob[rows])

    def mean_cost(self) -> np.ndarray:
        """Mean cost per call of each model (k,)."""
        return self.cost.mean(axis=0)

    def accuracy(self) -> np.ndarray:
        """Accuracy of each model over its graded calls (k,), as the data README reports it."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.labels.correct, axis=0)


def number_answers(answers: np.ndarray, similar: Callable[[str, str], bool] | None = None) -> np.ndarray:
    """Per row, number the distinct answers 0, 1, ... (``domain.answers.group_answers``: numbers agree
    within a tolerance, free texts by ``similar``); None -> -1."""
    ids = np.full(answers.shape, -1, dtype=np.int32)
    for i in range(answers.shape[0]):
        ids[i] = group_answers(list(answers[i]), similar)
    return ids


class DataError(ValueError):
    """An input file cannot be used (missing, unreadable, wrong schema); the message says which and why."""


def load_outcomes(path: str | Path, name: str | None = None, progress: bool = False) -> RecordedOutcomes:
    """Read a Parquet file of the shared schema. Prompts that some model did not answer are dropped
    (with a warning), so every strategy sees the same prompts and every model."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow's ArrowInvalid and friends: not a readable Parquet file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (the schema is in the data README)")
    if frame.empty:
        raise DataError(f"{path}: no rows")
    for column in ("pred", "reference", "input_tokens", "output_tokens", "subcategory"):
        if column not in frame.columns:
            frame[column] = None
    frame = frame.drop_duplicates(["prompt_id", "model"], keep="first")
    models = sorted(frame["model"].unique())
    counts = frame.groupby("prompt_id")["model"].nunique()
    complete = counts[counts == len(models)].index
    if len(complete) < len(counts):
        warnings.warn(f"{path}: dropping {len(counts) - len(complete)} prompts not answered by all "
                      f"{len(models)} models", stacklevel=2)
        frame = frame[frame["prompt_id"].isin(complete)]
    prompt_ids = np.asarray(sorted(complete), dtype=object)
    row = {p: i for i, p in enumerate(prompt_ids)}
    col = {m: j for j, m in enumerate(models)}
    n, k = len(prompt_ids), len(models)
    ii = frame["prompt_id"].map(row).to_numpy()
    jj = frame["model"].map(col).to_numpy()

    def dense(values, fill, dtype):  # noqa: ANN001, ANN202
        out = np.full((n, k), fill, dtype=dtype)
        out[ii, jj] = values
        return out

    def numeric(column: str) -> np.ndarray:
        return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)

    responses = dense(frame["response"].fillna("").to_numpy(dtype=object), "", object)
    preds = dense(frame["pred"].to_numpy(dtype=object), None, object)
    correct = dense(numeric("correct"), np.nan, float)
    cost = dense(numeric("cost_usd"), np.nan, float)
    in_tok = dense(numeric("input_tokens"), np.nan, float)
    out_tok = dense(numeric("output_tokens"), np.nan, float)
    latency_s = dense(numeric("latency_ms") / 1000.0, np.nan, float) if "latency_ms" in frame else None
    if latency_s is not None and np.isnan(latency_s).any():
        latency_s = None  # a partial record of latency is no measurement of it
    mean_logprob = dense(numeric("mean_logprob"), np.nan, float) if "mean_logprob" in frame else None
    first = frame.drop_duplicates("prompt_id").set_index("prompt_id").loc[prompt_ids]
    prompts = [str(p) for p in first["prompt"]]
    categories = first["category"].astype(str).to_numpy(dtype=object)
    reference = np.asarray([r if isinstance(r, str) else None for r in first["reference"]], dtype=object)
    if np.isnan(cost).any():
        raise DataError(f"{path}: cost_usd has nulls")

    answers = np.empty((n, k), dtype=object)
    rows = range(n)
    if progress:
        from tqdm import tqdm

        rows = tqdm(rows, desc="extracting answers", unit="prompt")
    # A dataset that records ``pred`` (MMLU-Pro: the benchmark's own extractor, whose failures it grades as
    # wrong) is read as recorded, a null pred being an abstention; otherwise answers are extracted here
    # with the request path's own function (no category label: a live request has none).
    use_pred = any(isinstance(p, str) and p for p in preds.ravel())
    for i in rows:
        for j in range(k):
            pred = preds[i, j]
            if use_pred:
                answers[i, j] = pred if isinstance(pred, str) and pred else None
            else:
                answers[i, j] = canonical_answer(responses[i, j], prompts[i])
    return RecordedOutcomes(
        name=name or path.parent.name or path.stem, prompt_ids=prompt_ids, prompts=prompts,
        categories=categories, models=models, responses=responses, answers=answers,
        answer_ids=number_answers(answers), cost=cost, input_tokens=in_tok, output_tokens=out_tok,
        labels=Labels(correct=correct, reference=reference), answers_recorded=use_pred, latency_s=latency_s,
        mean_logprob=mean_logprob)


def split_rows(prompt_ids: Sequence[str], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split by prompt_id: (train rows, validation rows); ``fraction`` goes to validation.

    The permutation is drawn over the *sorted* ids, so the split does not depend on row order.
    """
    ids = np.asarray(prompt_ids, dtype=object)
    order = np.argsort(ids, kind="stable")
    rng = np.random.default_rng(seed)
    perm = order[rng.permutation(len(ids))]
    n_val = int(round(len(ids) * fraction))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def load_prices(path: str | Path | None) -> dict[str, dict[str, float]]:
    """models.json: model -> {input_usd_per_mtok, output_usd_per_mtok}; {} when no file is given."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {m: {"input_usd_per_mtok": float(p["input_usd_per_mtok"]),
                    "output_usd_per_mtok": float(p["output_usd_per_mtok"])} for m, p in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{path}: not a price table of model -> {{input_usd_per_mtok, output_usd_per_mtok}} "
                        f"({type(exc).__name__}: {exc})") from exc


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def infer_prices(data: RecordedOutcomes) -> dict[str, dict[str, float]]:
    """Per-model USD per 1M tokens fitted to the recorded costs (for datasets without a price table).

    Tokens are the recorded counts or characters / 4; the fit is non-negative least squares of
    cost = in * p_in + out * p_out. When the fit is degenerate the blended rate is used for both.
    """
    from scipy.optimize import nnls

    prices: dict[str, dict[str, float]] = {}
    in_est = np.asarray([estimate_tokens(p) for p in data.prompts], dtype=float)
    for j, model in enumerate(data.models):
        tin = np.where(np.isnan(data.input_tokens[:, j]), in_est, data.input_tokens[:, j])
        out_est = np.asarray([estimate_tokens(r or "") for r in data.responses[:, j]], dtype=float)
        tout = np.where(np.isnan(data.output_tokens[:, j]), out_est, data.output_tokens[:, j])
        y = data.cost[:, j] * 1e6
        coef, _ = nnls(np.column_stack([tin, tout]), y)
        if coef.min() <= 0 or not np.isfinite(coef).all():
            blended = float(y.sum() / max(1.0, (tin + tout).sum()))
            coef = np.asarray([blended, blended])
        prices[model] = {"input_usd_per_mtok": round(float(coef[0]), 6),
                         "output_usd_per_mtok": round(float(coef[1]), 6)}
    return prices
