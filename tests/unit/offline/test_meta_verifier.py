"""AutoMix's POMDP meta-verifier is fitted on half the training prompts, compared with the bar on the other
half, and deployed at a point's costly decision only where it wins."""

from __future__ import annotations

import numpy as np

from switchboard.domain.dial import Dial, OperatingPoint, lay_out
from switchboard.offline.meta_verifier import fit_meta_verifiers
from switchboard.offline.recorded_cascades import Scored


def _scored(confidence: np.ndarray, slm_right: np.ndarray) -> tuple[Scored, np.ndarray]:
    """Two tiers: model 0 then the safety net, model 1 (always right); the cheap answer costs 1, the net 10."""
    n = len(confidence)
    conf = np.stack([confidence, np.ones(n)], axis=1)
    rep = np.tile([0, 1], (n, 1))
    new_cost = np.tile([1e-3, 1e-2], (n, 1))
    scored = Scored(rep=rep, answer=rep.copy(), score=conf.copy(), new_cost=new_cost, confidence=conf,
                    n_answers=np.ones((n, 2), dtype=int), verdicts=[[] for _ in range(n)])
    return scored, np.full(n, 2)


def test_a_pomdp_that_beats_the_bar_on_held_out_prompts_is_deployed_and_the_bar_is_kept_elsewhere():
    rng = np.random.default_rng(0)
    n = 1200
    confidence = rng.random(n)
    categories = np.where(np.arange(n) % 2 == 0, "odd", "plain")
    # "odd": the cheap model is right only in a middle band of confidence - no bar can keep those answers
    # alone; "plain": right exactly where confident
    band = (confidence > 0.35) & (confidence < 0.65)
    slm_right = np.where(categories == "odd", band, confidence > 0.5).astype(float)
    correct = np.stack([slm_right, np.ones(n)], axis=1)
    scored, lens = _scored(confidence, slm_right)
    point = OperatingPoint(name="p", models=2, cheap=0.0, last=0.9, train_accuracy=0.0, train_cost_per_1k=0.0)
    half = rng.permutation(n) % 2
    [deployed], report = fit_meta_verifiers([point], lambda p: (scored, lens), correct, list(categories), half, 0.0)
    assert report["deployed"]["p"]["odd"] == "pomdp" and report["deployed"]["p"]["plain"] == "threshold"
    region = report["regions"]["p/odd"]["aiq_validation"]
    assert region["pomdp"] > region["threshold"]
    assert deployed.meta["odd"] is not None and deployed.meta["plain"] is None  # the bar, explicitly
    assert deployed.train_accuracy > 0.0  # measured again with what it deploys
    # the planner lays it onto the decision before the safety net, for the region it was fitted for
    dial = Dial(models=["a", "b"], global_order=["a", "b"], points=[deployed])
    odd, plain = lay_out(dial, deployed, "odd"), lay_out(dial, deployed, "plain")
    assert odd.meta[0] is deployed.meta["odd"] and odd.meta[1] is None and plain.meta == [None, None]
    gate = odd.meta[0]
    assert gate.apply(0.5) >= 0.5 and gate.apply(0.95) < 0.5  # accepts in the band, escalates above it
    assert report["measured"]["pomdp"]["regions"] == report["measured"]["threshold"]["regions"] == 2


def test_the_pomdp_trains_and_runs_on_scores_at_the_package_s_bin_edges() -> None:
    """automix-llm's nearest-bin lookup finds no bin for 0.55 with 10 bins (it then fails on a None index);
    the frame moves every score off the edges, as the calibration's grid does, so any score trains."""
    from switchboard.offline.baselines import automix_frugal as bl

    rng = np.random.default_rng(3)
    conf = rng.choice([0.0, 0.05, 0.25, 0.55, 0.75, 1.0], size=300)
    slm = (rng.random(300) < conf).astype(float)
    llm = np.maximum(slm, (rng.random(300) < 0.7).astype(float))
    _, method, params = bl.train_automix("pomdp", bl.automix_frame(conf, slm, llm), (0.1, 1.0))
    assert params
    frame = bl.automix_frame(np.full(3, 0.55), np.ones(3), np.ones(3))
    assert len(method.run(frame, params[0], verifier_column="p_ver")) == 3
