import numpy as np
import pytest

from switchboard.domain import cascade as engine
from switchboard.domain import decision
from switchboard.domain.fusion import PlainScorer, enumerate_candidates
from switchboard.offline import recorded_cascades as cascades
from switchboard.offline.recorded_cascades import (
    AgreementJudge,
    ReplayPlan,
    Situation,
    run_cascade,
    score_plan,
)
from switchboard.offline.stop_rules import stop_rule, two_level_thresholds
from switchboard.offline.verifier import fuse


def situation(n=40, k=4, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(-1, 3, size=(n, k))
    responses = np.asarray([["x" * int(m) for m in row] for row in rng.integers(1, 500, size=(n, k))], dtype=object)
    return Situation(answer_ids=ids, cost=rng.random((n, k)) * 0.01, router_p=rng.random((n, k)),
                     resp_len=np.vectorize(len, otypes=[float])(responses),
                     responses=responses, models=[f"m{j}" for j in range(k)])


def fake_predict(X):
    # a deterministic score in (0, 1) from the features (votes and router probabilities)
    return 1 / (1 + np.exp(-(X[:, :8].sum(axis=1) * 0.7 - 0.3)))


FAKE = PlainScorer(fake_predict)


def test_cascades_run_the_request_paths_engine(monkeypatch):
    steps = []
    real = engine.step

    def spy(state, *args, **kwargs):
        steps.append(state.tier)
        return real(state, *args, **kwargs)

    monkeypatch.setattr(engine, "step", spy)
    sit = situation(n=5)
    plan = ReplayPlan.uniform(sit.n, [0, 1, 2], [0.99, 0.99, 0.0])
    out = run_cascade(sit, plan, score_plan(sit, plan, FAKE))
    assert len(steps) == int(out.tiers_used.sum()) > 0
    assert cascades.aggregate_confidence is decision.aggregate_confidence


def test_stop_rule_replicates_decide(monkeypatch):
    calls = []
    real = decision.decide

    def spy(**kwargs):
        calls.append(kwargs["tier"])
        return real(**kwargs)

    monkeypatch.setattr(engine, "decide", spy)
    sit = situation()
    rng = np.random.default_rng(3)
    tiers = [list(rng.permutation(4)[: rng.integers(1, 5)]) for _ in range(sit.n)]
    judges = [[[] for _ in t] for t in tiers]
    for i, t in enumerate(tiers):
        if len(t) >= 2 and i % 2:
            judges[i][0] = [int(next(j for j in range(4) if j not in t))] if len(t) < 4 else []
    lens = np.asarray([len(t) for t in tiers])
    for cheap, last in [(0.5, 0.7), (0.9, 0.2), (1.01, 1.01), (0.0, 0.0)]:
        thr = two_level_thresholds(lens, int(lens.max()), cheap, last, final=0.6)
        plan = ReplayPlan(tiers, judges, [list(row[:n]) for row, n in zip(thr, lens, strict=True)])
        scored = score_plan(sit, plan, FAKE)
        out = run_cascade(sit, plan, scored)
        assert scored.verifier.misses == 0  # every tier's fusion was one the batch scored
        stop, ret = stop_rule(scored.confidence, lens, thr)
        assert (out.tiers_used == stop + 1).all()
        assert (out.rep == scored.rep[np.arange(sit.n), ret]).all()
        assert np.allclose(out.cost, np.cumsum(scored.new_cost, axis=1)[np.arange(sit.n), stop])
    assert calls, "decide was not called"


def test_each_answer_is_paid_once():
    sit = situation(n=1, k=3)
    sit.cost[:] = [[0.1, 0.2, 0.4]]
    # tier 0: model 0 judged by model 1; tier 1: model 1 (already paid); tier 2: model 2
    plan = ReplayPlan([[0, 1, 2]], [[[1], [], []]], [[1.01, 1.01, 0.0]])
    scored = score_plan(sit, plan, FAKE)
    assert np.allclose(scored.new_cost[0], [0.3, 0.0, 0.4])
    judge_verdict = [v for v in scored.verdicts[0][0] if v.kind == "agreement"][0]
    assert judge_verdict.cost_usd == pytest.approx(0.2) and judge_verdict.judge == "agreement:m1"
    assert "simulated" in judge_verdict.detail
    out = run_cascade(sit, plan, scored, keep_traces=True)
    assert out.cost[0] == pytest.approx(0.7)
    assert sum(a.cost_usd for a in out.traces[0]) == pytest.approx(0.7)


def test_agreement_judge_abstains_without_answer():
    judge = AgreementJudge("j")
    assert judge.verdict(1, 1, 0.1).score == 1.0
    assert judge.verdict(1, 2, 0.1).score == 0.0
    assert judge.verdict(-1, 2, 0.1).score is None
    assert judge.verdict(1, -1, 0.1).score is None


def test_fusion_picks_the_best_scored_candidate():
    ids = np.array([[0, 0, 1, -1]])
    called = np.array([[True, True, True, True]])
    p = np.array([[0.6, 0.6, 0.9, 0.5]])
    cand = enumerate_candidates(ids, called, p)
    assert sorted(cand.answer.tolist()) == [0, 1]
    # a verifier that trusts votes: answer 0 (two votes) wins; one that trusts model 2 alone: answer 1
    votes = fuse(ids, called, p, np.ones((1, 4)), PlainScorer(lambda X: X[:, :4].sum(axis=1) / 4 + 0.5))
    assert votes[0].answer == 0 and votes[0].rep in (0, 1)
    trust2 = fuse(ids, called, p, np.ones((1, 4)), PlainScorer(lambda X: (X[:, 2] + 1) / 2))
    assert trust2[0].answer == 1 and trust2[0].rep == 2


def test_a_meta_verifier_at_the_costly_decision_runs_the_same_in_the_engine_and_the_search_replica():
    """A POMDP meta-verifier is a step function of the confidence at the decision before the safety net:
    the engine (``TierSpec.meta`` in ``decide``) and ``stop_rule`` (``ReplayPlan.gate``) decide alike."""
    from switchboard.domain.judging import Calibration

    sit = situation(n=60, k=4, seed=5)
    # accept only in a middle band of confidence: nothing a bar could express
    band = Calibration(xs=[0.0, 0.3, 0.3001, 0.7, 0.7001, 1.0], ys=[0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    plan = ReplayPlan.uniform(sit.n, [0, 1, 2], [0.99, 0.99, 0.0])
    plan.meta = [[None, band, None] for _ in range(sit.n)]
    scored = score_plan(sit, plan, FAKE)
    out = run_cascade(sit, plan, scored)
    lens = np.full(sit.n, 3)
    thr = np.asarray(plan.thresholds)
    stop, ret = stop_rule(scored.confidence, lens, thr, plan.gate(scored.confidence))
    assert (out.tiers_used == stop + 1).all() and (out.rep == scored.rep[np.arange(sit.n), ret]).all()
    plain, _ = stop_rule(scored.confidence, lens, thr)
    assert (plain != stop).any()  # the band decides other prompts than the bar would
