"""Judge measurement and calibration from collected verdicts (``offline.judges``), on synthetic collections
whose judges are informative or not by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from switchboard.domain.models import JudgePolicy
from switchboard.offline.judges import Collected, JudgeDataError, auroc, measure, replay, role_table

MODELS = ("small", "big")


def _write(tmp_path, n=300, seed=0):
    """small is right 55% of the time, big 85%; logprob judges see the truth through noise, self_verify
    by the answering model is a coin flip (uninformative)."""
    rng = np.random.default_rng(seed)
    outcomes, judges = [], []
    for i in range(n):
        pid = f"p{i:03d}"
        for model, rate, latency in (("small", 0.55, 1000.0), ("big", 0.85, 5000.0)):
            correct = float(rng.random() < rate)
            outcomes.append({"prompt_id": pid, "prompt": f"q{i}", "category": "c", "subcategory": "c",
                             "reference": "A", "model": model, "response": "A" if correct else "B",
                             "pred": "A" if correct else "B", "correct": correct, "input_tokens": 10,
                             "output_tokens": 1, "cost_usd": 1e-6 if model == "small" else 1e-5,
                             "latency_ms": latency})
            other = "big" if model == "small" else "small"
            noisy = float(np.clip(0.5 + (correct - 0.5) * 0.9 + rng.normal(0, 0.1), 0, 1))
            rows = [("self_verify", model, float(rng.integers(0, 4)) / 3, 400.0),
                    ("logprob", model, noisy, 100.0),
                    ("llm_judge", other, float(rng.random() < 0.5), 300.0),
                    ("logprob", other, float(np.clip(noisy + rng.normal(0, 0.1), 0, 1)), 120.0)]
            for kind, judge_model, score, ms in rows:
                judges.append({"prompt_id": pid, "model": model, "judge": f"{kind}:{judge_model}", "kind": kind,
                               "judge_model": judge_model, "role": "self" if judge_model == model else "other",
                               "score": score, "failed": False, "cost_usd": 1e-7, "latency_ms": ms, "detail": ""})
    pd.DataFrame(outcomes).to_parquet(tmp_path / "outcomes.parquet")
    pd.DataFrame(judges).to_parquet(tmp_path / "judges.parquet")
    return Collected.read(tmp_path)


def test_informative_judges_are_told_from_coin_flips(tmp_path):
    data = _write(tmp_path)
    roles = {r["role"]: r for r in role_table(data, data.prompt_ids)}
    assert roles["logprob"]["auroc"] > 0.8 and roles["logprob_other"]["auroc"] > 0.8
    assert 0.4 < roles["self_verify"]["auroc"] < 0.6 and 0.4 < roles["llm_judge"]["auroc"] < 0.6
    assert auroc([0.1, 0.9], [0, 1]) == 1.0 and auroc([0.5, 0.5], [1, 1]) is None


def test_the_fitted_policy_picks_informative_judges_and_beats_the_small_model_on_held_out(tmp_path):
    data = _write(tmp_path)
    train, test = data.prompt_ids[:200], data.prompt_ids[200:]
    policy, report = measure(data, train, test)
    assert set(policy.judges) <= {"logprob", "logprob_other"}
    assert set(policy.calibration) == set(MODELS)
    for calibration in policy.calibration.values():
        assert calibration.ys == sorted(calibration.ys)  # monotone
    single = {s["model"]: s for s in report["single_models"]}
    cascade = report["cascade"]
    assert cascade["accuracy"] > single["small"]["accuracy"] + 0.1
    assert cascade["accuracy"] >= single["big"]["accuracy"] - 0.05
    assert cascade["mean_latency_ms"] < single["small"]["mean_latency_ms"] + single["big"]["mean_latency_ms"] + 1000
    assert 0 < cascade["verified"] <= 1 and 0 < cascade["escalated"] < 1
    assert len(report["curve"]) > 5


def test_without_calibration_nothing_is_verified(tmp_path):
    data = _write(tmp_path, n=60)
    uncalibrated = JudgePolicy(judges=["logprob"], threshold=0.5)
    result = replay(data, data.prompt_ids, list(MODELS), uncalibrated)
    assert result["verified"] == 0.0
    assert result["answered_by"]["small"] > 0  # it still accepted answers, unverified


def test_missing_files_are_reported(tmp_path):
    with pytest.raises(JudgeDataError, match="switchboard collect"):
        Collected.read(tmp_path)


def test_judges_that_cannot_tell_right_from_wrong_calibrate_nothing_and_verify_nothing(tmp_path):
    from switchboard.offline.judges import MIN_JUDGE_AUROC, MIN_VERIFIED_BAR, fit_policy

    data = _write(tmp_path, n=200)
    coin = fit_policy(data, data.prompt_ids, ["self_verify"])  # coin-flip judges, by construction
    assert coin.calibration == {}
    assert all(a is None or a < MIN_JUDGE_AUROC for a in coin.measured["train_auroc"].values())
    assert replay(data, data.prompt_ids, list(MODELS), coin.model_copy(update={"threshold": 0.3}))["verified"] == 0.0
    informative = fit_policy(data, data.prompt_ids, ["logprob"])
    assert set(informative.calibration) == set(MODELS)
    policy, _ = measure(data, data.prompt_ids[:150], data.prompt_ids[150:])
    assert policy.threshold >= MIN_VERIFIED_BAR  # calibrated: "verified" means P(correct) of at least a half


def test_when_no_judge_makes_the_cascade_pay_the_policy_goes_straight_to_the_most_accurate_model(tmp_path):
    """Coin-flip judges only: a cascade through the small model is no more accurate than the big model
    alone and slower, so the fitted policy skips the small model - and the held-out replay, laid out by
    the request path's planner, runs the big model alone."""
    data = _write(tmp_path, n=300)
    for key in [k for k in data.verdicts if not k[2].startswith(("self_verify", "llm_judge"))]:
        del data.verdicts[key]
    policy, report = measure(data, data.prompt_ids[:200], data.prompt_ids[200:])
    assert policy.skip == ["small"] and report["choice"]["tiers"] == ["big"]
    assert report["cascade"]["tiers"] == ["big"] and report["cascade"]["escalated"] == 0.0
    single = {s["model"]: s for s in report["single_models"]}
    assert report["cascade"]["accuracy"] == single["big"]["accuracy"]
    tried = {(tuple(t["judges"]), tuple(t["tiers"])) for t in report["judge_sets_tried"]}
    assert (("self_verify",), ("small", "big")) in tried and (("self_verify",), ("big",)) in tried
