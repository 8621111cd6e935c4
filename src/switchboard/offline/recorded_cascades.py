"""Cascades over recorded outcomes: trained dials and the baselines ``switchboard eval`` compares.

A ``ReplayPlan`` gives, per prompt, the tier models in order, the agreement judges of each tier and the
per-tier thresholds. ``run_cascade`` - what every reported number comes from - runs each prompt's cascade
through the request path's own engine (``domain.cascade.run``: ``step``, fusion with the learned verifier,
``aggregate_confidence``, ``decide``), with each tier's answer and its agreement judges' answers read from
the recorded outcomes instead of called (``_recorded_tier``):

1. a model's recorded cost is charged the first time its answer is used, as a tier or as a judge, and
   never again (an answer already bought is reused, as the request path reuses it within a request);
2. the candidate is the tier model's own answer, or - for fusing cascades (Switchboard) - the answer the
   learned verifier scores highest among all answers bought so far;
3. the verdicts (learned verifier + agreement judges) are folded with the weights and calibration fitted by
   ``switchboard train``, and ``decide`` accepts, escalates or stops.

``score_plan`` is the same scoring done in one vectorised batch: it exists to *search* thresholds on
training data fast (with ``stop_rules.stop_rule``, a vectorised replica of the accept/stop rule), and its batch of
verifier scores is reused by ``run_cascade`` (``ScoredVerifier``) so a replay does not call the verifier
once per tier. A unit test checks that the search replica and the engine agree.

Both judges here are *simulated from recorded data* and say so in every verdict they produce:

- agreement judge J (kind ``agreement``, name ``agreement:<J>``; ``AgreementJudge`` in the batch): J agrees
  with the candidate when J's recorded, extracted answer equals the candidate's; it abstains when either
  answer could not be extracted. It costs J's recorded ``cost_usd`` for the prompt, since J had to solve
  the prompt to judge it - charged once per prompt.
- the learned verifier's score of the candidate (``offline.verifier``), free. A verifier that reads the
  answers' own features gets them from the ``Situation``'s ``answer_signals``: in the batch through
  ``answer_features.answer_block``, in the engine through the decide task's own code, its encoder
  replaced by a lookup of the same recorded embeddings (``recorded_encoder``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from switchboard.domain.answer_features import AnswerFeatures, AnswerSignals, answer_block
from switchboard.domain.cascade import TierOutcome, run
from switchboard.domain.decision import aggregate_confidence
from switchboard.domain.dial import Dial, OperatingPoint, RouteSignals, lay_out
from switchboard.domain.fusion import Scorer, enumerate_candidates, pick_best, verifier_features
from switchboard.domain.judging import Calibration, JudgeSpec
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import Attempt, Candidate, CascadeState, Fusion, Plan, TierSpec, Verdict
from switchboard.offline.answer_signals import recorded_encoder

SIMULATED = "simulated from recorded data"


class AgreementJudge:
    """Simulated agreement judge: J's recorded answer vs the candidate's (see the module docstring)."""

    kind = "agreement"

    def __init__(self, model: str) -> None:
        self.model = model

    @property
    def name(self) -> str:
        return f"agreement:{self.model}"

    def verdict(self, candidate_answer: int, judge_answer: int, cost_usd: float) -> Verdict:
        if candidate_answer < 0 or judge_answer < 0:
            return Verdict(judge=self.name, kind="agreement", score=None, cost_usd=cost_usd,
                           detail=f"{SIMULATED}: no extractable answer, abstains")
        agrees = candidate_answer == judge_answer
        return Verdict(judge=self.name, kind="agreement", score=1.0 if agrees else 0.0, cost_usd=cost_usd,
                       detail=f"{SIMULATED}: {self.model}'s recorded answer {'agrees' if agrees else 'differs'}")


def verifier_verdict(score: float, n_answers: int) -> Verdict:
    return Verdict(judge="verifier", kind="verifier", score=float(min(1.0, max(0.0, score))), cost_usd=0.0,
                   detail=f"learned verifier over {n_answers} recorded answer(s) ({SIMULATED})")


@dataclass
class Situation:
    """Decision-time inputs of a set of prompts (never labels)."""

    answer_ids: np.ndarray  # (n, k)
    cost: np.ndarray  # (n, k) recorded USD per call
    router_p: np.ndarray  # (n, k)
    resp_len: np.ndarray  # (n, k)
    responses: np.ndarray | None = None  # (n, k) texts: traces, and the answers' own features
    models: list[str] = field(default_factory=list)
    # what a verifier that reads the answers themselves needs: the prompts (n) and the answers' signals
    prompts: list[str] | None = None
    answer_signals: AnswerSignals | None = None

    @property
    def n(self) -> int:
        return self.answer_ids.shape[0]

    def rows(self, idx: np.ndarray) -> Situation:
        return Situation(self.answer_ids[idx], self.cost[idx], self.router_p[idx], self.resp_len[idx],
                         None if self.responses is None else self.responses[idx], self.models,
                         None if self.prompts is None else [self.prompts[int(i)] for i in idx],
                         None if self.answer_signals is None else self.answer_signals.rows(idx))

    def answer_block(self, features: AnswerFeatures) -> np.ndarray | None:
        """(n, k, m): every answer's own features for a verifier reading ``features`` (None: it reads none)."""
        if not features.enabled:
            return None
        return answer_block(features, self.answer_signals, self.n, self.answer_ids.shape[1])


@dataclass
class ReplayPlan:
    """A cascade for ``n`` prompts. ``tiers[i]`` lists model indices; ``judges[i][t]`` the agreement judges
    of tier t; ``thresholds[i][t]`` the bar of tier t (the last tier of a prompt always stops)."""

    tiers: list[list[int]]
    judges: list[list[list[int]]]
    thresholds: list[list[float]]
    fuse: bool = True
    own_last: bool | list[bool] = False  # the last tier returns its own model's answer (per prompt or all)
    meta: list[list[Calibration | None]] | None = None  # per prompt and tier: a POMDP meta-verifier, if any

    @classmethod
    def uniform(cls, n: int, tiers: Sequence[int], thresholds: Sequence[float] | float,
                judges: Sequence[Sequence[int]] | None = None, fuse: bool = True) -> ReplayPlan:
        tiers = list(tiers)
        if isinstance(thresholds, (int, float)):
            thresholds = [float(thresholds)] * len(tiers)
        judges = [list(j) for j in judges] if judges is not None else [[] for _ in tiers]
        return cls([list(tiers) for _ in range(n)], [[list(j) for j in judges] for _ in range(n)],
                   [list(thresholds) for _ in range(n)], fuse)

    @property
    def depth(self) -> int:
        return max((len(t) for t in self.tiers), default=0)

    def rows(self, idx: Sequence[int] | np.ndarray) -> ReplayPlan:
        own = self.own_last if isinstance(self.own_last, bool) else [self.own_last[i] for i in idx]
        return ReplayPlan([self.tiers[i] for i in idx], [self.judges[i] for i in idx],
                          [self.thresholds[i] for i in idx], self.fuse, own,
                          None if self.meta is None else [self.meta[i] for i in idx])

    def gate(self, confidence: np.ndarray) -> np.ndarray | None:
        """(n, T): what each tier's meta-verifier makes of its confidence (NaN where a tier has none), for
        ``stop_rule``; None when no tier has one."""
        if self.meta is None or not any(m is not None for row in self.meta for m in row):
            return None
        out = np.full(confidence.shape, np.nan)
        for i, row in enumerate(self.meta):
            for t, meta in enumerate(row):
                if meta is not None and not np.isnan(confidence[i, t]):
                    out[i, t] = meta.apply(float(confidence[i, t]))
        return out


def plan_of(dial: Dial, point: OperatingPoint, categories: Sequence[str | None], models: Sequence[str],
            signals: Sequence[RouteSignals | None] | None = None) -> ReplayPlan:
    """Each prompt's cascade under ``point`` (prompt i matched to ``categories[i]``, with its routing
    ``signals[i]``), laid out by the planner's own ``domain.dial.lay_out``: tiers, agreement judges, bars
    and meta-verifiers."""
    index = {m: j for j, m in enumerate(models)}
    tiers, judges, thresholds, own_last, meta = [], [], [], [], []
    for i, category in enumerate(categories):
        layout = lay_out(dial, point, category, signals[i] if signals is not None else None)
        tiers.append([index[m] for m in layout.tiers])
        judges.append([[index[m] for m in js] for js in layout.judges])
        thresholds.append(list(layout.thresholds))
        own_last.append(layout.own_last)
        meta.append(list(layout.meta))
    return ReplayPlan(tiers, judges, thresholds, fuse=True, own_last=own_last, meta=meta)


@dataclass
class Scored:
    """Per (prompt, tier position): the candidate's representative model, answer id, verifier score,
    the verdicts' raw inputs, the models newly paid for, and the confidence from aggregate_confidence."""

    rep: np.ndarray  # (n, T) int, -1 past a prompt's last tier
    answer: np.ndarray  # (n, T)
    score: np.ndarray  # (n, T)
    new_cost: np.ndarray  # (n, T) USD newly spent at this tier (model + judges)
    confidence: np.ndarray  # (n, T) NaN = None
    n_answers: np.ndarray  # (n, T)
    verdicts: list[list[list[Verdict]]]
    # what ``run_cascade`` needs to run the same cascades through the request path's engine: the verifier
    # (its scores of the rows computed here kept in a table) and the weights and calibration used
    verifier: ScoredVerifier | None = None
    weights: dict[str, float] | None = None
    calibration: Calibration | None = None


class ScoredVerifier:
    """The verifier as ``run_cascade`` calls it: every feature row ``score_plan`` scored in its batch is
    answered from that batch's table, so replaying a cascade prompt by prompt through ``domain.cascade``
    costs no model call per tier; a row the batch did not score (``misses``) is scored by the verifier."""

    def __init__(self, verifier: Scorer, rows: np.ndarray, scores: np.ndarray) -> None:
        self.predict_rows = verifier.predict
        self.answer_features = verifier.answer_features
        self.table = {row.tobytes(): float(s) for row, s in zip(np.asarray(rows, dtype=np.float32), scores, strict=True)}
        self.misses = 0

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        out = np.empty(len(X))
        missing = []
        for r, row in enumerate(X):
            found = self.table.get(row.tobytes())
            if found is None:
                missing.append(r)
            else:
                out[r] = found
        if missing:
            self.misses += len(missing)
            out[missing] = np.asarray(self.predict_rows(X[missing]), dtype=float).reshape(-1)
        return out


def score_plan(sit: Situation, plan: ReplayPlan, verifier: Scorer, weights: dict[str, float] | None = None,
               calibration: Calibration | None = None, models: Sequence[str] | None = None) -> Scored:
    """Batch part of a cascade run: candidates, verifier scores, verdicts and confidence per tier."""
    n, T = sit.n, plan.depth
    models = list(models or sit.models)
    k = sit.answer_ids.shape[1]
    rep = np.full((n, T), -1, dtype=int)
    answer = np.full((n, T), -1, dtype=int)
    score = np.full((n, T), np.nan)
    new_cost = np.zeros((n, T))
    n_answers = np.zeros((n, T), dtype=int)
    paid_sets = np.zeros((n, T, k), dtype=bool)
    own = np.zeros((n, T, k), dtype=bool)
    for i in range(n):
        paid = np.zeros(k, dtype=bool)
        for t, m in enumerate(plan.tiers[i]):
            spent = 0.0
            for j in [m, *plan.judges[i][t]]:
                if not paid[j]:
                    paid[j] = True
                    spent += float(sit.cost[i, j])
            new_cost[i, t] = spent
            paid_sets[i, t] = paid
            own[i, t, m] = True
    valid = np.asarray([[t < len(plan.tiers[i]) for t in range(T)] for i in range(n)])
    ii, tt = np.nonzero(valid)
    called = paid_sets[ii, tt] if plan.fuse else own[ii, tt]
    own_last = np.broadcast_to(np.asarray(plan.own_last, dtype=bool), (n,))
    if plan.fuse and own_last.any():
        is_last = (tt == np.asarray([len(plan.tiers[i]) - 1 for i in ii])) & own_last[ii]
        called = np.where(is_last[:, None], own[ii, tt], called)
    cand = enumerate_candidates(sit.answer_ids[ii], called, sit.router_p[ii])
    block = sit.answer_block(verifier.answer_features)
    X = verifier_features(sit.answer_ids[ii], called, sit.router_p[ii], sit.resp_len[ii], cand,
                          None if block is None else block[ii])
    p = verifier.predict(X) if len(X) else np.zeros(0)
    best = pick_best(cand.situation, p, len(ii))
    rep[ii, tt] = cand.rep[best]
    answer[ii, tt] = cand.answer[best]
    score[ii, tt] = p[best]
    n_answers[ii, tt] = called.sum(axis=1)
    confidence = np.full((n, T), np.nan)
    verdicts: list[list[list[Verdict]]] = [[[] for _ in range(T)] for _ in range(n)]
    for i in range(n):
        paid = np.zeros(k, dtype=bool)
        for t, m in enumerate(plan.tiers[i]):
            vs = [verifier_verdict(score[i, t], int(n_answers[i, t]))]
            paid[m] = True
            for j in plan.judges[i][t]:
                judge = AgreementJudge(models[j] if models else str(j))
                vs.append(judge.verdict(int(answer[i, t]), int(sit.answer_ids[i, j]),
                                        0.0 if paid[j] else float(sit.cost[i, j])))
                paid[j] = True
            verdicts[i][t] = vs
            conf = aggregate_confidence(vs, weights=weights, calibration=calibration)
            confidence[i, t] = np.nan if conf is None else conf
    return Scored(rep, answer, score, new_cost, confidence, n_answers, verdicts, ScoredVerifier(verifier, X, p),
                  weights, calibration)


def recalibrate(scored: Scored, weights: dict[str, float] | None, calibration: Calibration | None) -> Scored:
    """The same verdicts folded with other weights / calibration (``aggregate_confidence`` again)."""
    confidence = np.full(scored.confidence.shape, np.nan)
    for i, per_tier in enumerate(scored.verdicts):
        for t, verdicts in enumerate(per_tier):
            if not verdicts:
                continue
            conf = aggregate_confidence(verdicts, weights=weights, calibration=calibration)
            confidence[i, t] = np.nan if conf is None else conf
    return Scored(scored.rep, scored.answer, scored.score, scored.new_cost, confidence, scored.n_answers,
                  scored.verdicts, scored.verifier, weights, calibration)


@dataclass
class Outcome:
    """Result of a cascade per prompt: the model whose response is returned, spend, tiers run."""

    rep: np.ndarray
    cost: np.ndarray
    tiers_used: np.ndarray
    answer_tier: np.ndarray
    reasons: list[str]
    traces: list[list[Attempt]] | None = None


def run_cascade(sit: Situation, plan: ReplayPlan, scored: Scored, keep_traces: bool = False,
                max_cost_usd: float | None = None) -> Outcome:
    """Every prompt's cascade run by the request path's engine (``domain.cascade.run``: fusion with the
    verifier, the agreement judges, ``aggregate_confidence`` with ``scored``'s weights and calibration,
    ``decide``), its tiers' answers and agreement judges read from the recorded outcomes
    (``_recorded_tier``). ``scored`` supplies the verifier (its batch scores reused)."""
    if scored.verifier is None:
        raise ValueError("run_cascade needs a Scored from score_plan (it carries the verifier)")
    n = sit.n
    rep = np.full(n, -1, dtype=int)
    cost = np.zeros(n)
    used = np.zeros(n, dtype=int)
    answer_tier = np.zeros(n, dtype=int)
    reasons: list[str] = []
    traces: list[list[Attempt]] | None = [] if keep_traces else None
    models = list(sit.models) or [str(j) for j in range(sit.answer_ids.shape[1])]
    position = {m: j for j, m in enumerate(models)}
    embed = (recorded_encoder(sit.prompts, sit.responses, sit.answer_signals)
             if scored.verifier.answer_features.embedding is not None else None)
    for i in range(n):
        prompt = sit.prompts[i] if sit.prompts is not None else "recorded prompt"
        request = ChatRequest(messages=[Message(role="user", content=prompt)], max_cost_usd=max_cost_usd)
        state = run(CascadeState(request_id=str(i), request=request, plan=_plan(sit, plan, scored, models, i)),
                    partial(_recorded_tier, sit, models, i), verifier=scored.verifier, embed=embed)
        decision = state.decision
        assert decision is not None
        at = decision.answer_tier if decision.answer_tier is not None else len(state.attempts) - 1
        chosen = decision.answer_model or state.attempts[at].answer_model or state.attempts[at].model
        rep[i] = position[chosen]
        cost[i] = state.spent_usd
        used[i] = len(state.attempts)
        answer_tier[i] = at
        reasons.append(decision.reason)
        if traces is not None:
            traces.append(state.attempts)
    return Outcome(rep, cost, used, answer_tier, reasons, traces)


def _plan(sit: Situation, plan: ReplayPlan, scored: Scored, models: list[str], i: int) -> Plan:
    """Prompt ``i``'s cascade as the request path's plan: each tier's model, its agreement judges and bar
    (a bar above 1 never accepts), the recorded cost of its model as the bound ``decide`` checks against a
    budget, and the fusion the verifier scores it with."""
    own = plan.own_last if isinstance(plan.own_last, bool) else plan.own_last[i]
    meta = plan.meta[i] if plan.meta is not None else []
    tiers = [TierSpec(model=models[m], judges=[JudgeSpec(kind="agreement", model=models[j]) for j in plan.judges[i][t]],
                      threshold=min(1.01, max(0.0, plan.thresholds[i][t] if t < len(plan.thresholds[i]) else 1.01)),
                      est_cost_usd=float(sit.cost[i, m]), meta=meta[t] if t < len(meta) else None)
             for t, m in enumerate(plan.tiers[i])]
    fusion = Fusion(models=models, router_p=[float(x) for x in sit.router_p[i]], own_last=bool(own),
                    own_answer=not plan.fuse, weights=dict(scored.weights or {}),
                    calibration=scored.calibration or Calibration())
    return Plan(tiers=tiers, route="dial", fusion=fusion)


def _recorded_tier(sit: Situation, models: list[str], i: int, state: CascadeState) -> TierOutcome:
    """The current tier of prompt ``i`` from its recorded outcomes: the tier model's answer, and each
    agreement judge's (both bought at their recorded cost the first time a model answers, reused after) -
    the work the tier and judge tasks do on the request path (``service.tasks``)."""
    spec = state.plan.tiers[state.tier]

    def answer(model: str) -> Candidate:
        if model in state.answers:
            return state.answers[model].model_copy(update={"cost_usd": 0.0, "reused": True})
        j = models.index(model)
        text = str(sit.responses[i, j]) if sit.responses is not None else ""
        answer_id = int(sit.answer_ids[i, j])
        logprob = float(sit.answer_signals.logprob[i, j]) if sit.answer_signals is not None else float("nan")
        return Candidate(model=model, text=text, cost_usd=float(sit.cost[i, j]),
                         canonical=f"answer:{answer_id}" if answer_id >= 0 else None,
                         mean_logprob=None if np.isnan(logprob) else logprob)

    candidate = answer(spec.model)
    verdicts = []
    for judge in spec.judges:
        bought = answer(judge.model or spec.model)
        agrees = None if candidate.canonical is None or bought.canonical is None else float(candidate.canonical == bought.canonical)
        verdicts.append(Verdict(judge=judge.name, kind="agreement", score=agrees, cost_usd=bought.cost_usd,
                                answer_canonical=bought.canonical, answer=bought,
                                detail=f"{SIMULATED}: {bought.model}'s recorded answer"))
    return TierOutcome(candidate=candidate, verdicts=verdicts)
