"""Judge measurement and calibration from collected verdicts (``offline.judge_*``), on synthetic collections
whose judges are informative or not by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from switchboard.domain.judging import JudgePolicy
from switchboard.offline.judge_data import Collected, JudgeDataError
from switchboard.offline.judge_replay import replay
from switchboard.offline.judge_report import measure
from switchboard.offline.judge_stats import auroc, role_table

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
    single = {s["model"]: s for s in report["single_models"]}
    cascade = report["cascade"]
    # the calibration means what it says on prompts it never saw: verified answers are right at least as
    # often as the bar they cleared promises, and more often than the answers it could not verify
    assert cascade["verified_accuracy"] >= policy.threshold - 0.05
    assert cascade["verified_accuracy"] > cascade["accuracy"] - 1e-9
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
    from switchboard.offline.judge_fit import MIN_JUDGE_AUROC, MIN_VERIFIED_BAR, fit_policy

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
    tried = {(tuple(t["judges"]), tuple(o["tiers"])) for t in report["judge_sets_tried"]["all"] for o in t["options"]}
    assert (("self_verify",), ("small", "big")) in tried and (("self_verify",), ("big",)) in tried


def _write_two_kinds(tmp_path, n=400, seed=1):
    """Prompts of kind x, where the answering model's logprob judge sees the truth through noise, and of
    kind y, where the same judge's score is inverted; a few prompts of kind z (in no region: too few)."""
    rng = np.random.default_rng(seed)
    outcomes, judges = [], []
    for i in range(n):
        kind = "z" if i % 40 == 0 else "x" if i % 2 else "y"
        pid = f"p{i:03d}"
        for model, rate, latency in (("small", 0.6, 1000.0), ("big", 0.8, 5000.0)):
            correct = float(rng.random() < rate)
            outcomes.append({"prompt_id": pid, "prompt": f"{kind} question {i}", "category": kind, "subcategory": kind,
                             "reference": "A", "model": model, "response": "A", "pred": "A", "correct": correct,
                             "input_tokens": 10, "output_tokens": 1, "cost_usd": 1e-6 if model == "small" else 1e-5,
                             "latency_ms": latency})
            signal = (correct - 0.5) * (0.9 if kind == "x" else -0.9 if kind == "y" else 0.0)
            score = float(np.clip(0.5 + signal + rng.normal(0, 0.1), 0, 1))
            judges.append({"prompt_id": pid, "model": model, "judge": f"logprob:{model}", "kind": "logprob",
                           "judge_model": model, "role": "self", "score": score, "failed": False, "cost_usd": 0.0,
                           "latency_ms": 10.0, "detail": ""})
    pd.DataFrame(outcomes).to_parquet(tmp_path / "outcomes.parquet")
    pd.DataFrame(judges).to_parquet(tmp_path / "judges.parquet")
    return Collected.read(tmp_path)


def _embed(texts):
    """x and y prompts point along their own axis (with a little spread); z prompts between them."""
    rng = np.random.default_rng(0)
    out = []
    for text in texts:
        base = {"x": [1.0, 0.0, 0.0], "y": [0.0, 1.0, 0.0], "z": [0.0, 0.0, 1.0]}[text[0]]
        v = np.asarray(base) + rng.normal(0, 0.05, 3)
        out.append(v / np.linalg.norm(v))
    return np.asarray(out)


def test_judges_are_calibrated_per_region_and_verify_only_where_they_were_measured_to_separate(tmp_path):
    """Pooled over x and y the judge's signal cancels out (nothing could be verified); per region it is
    calibrated where it separates (x) and nowhere else, and a prompt unlike every region (z) is never
    verified - in the held-out replay, which places each prompt with the request path's ``locate``."""
    from switchboard.offline.judge_fit import fit_policy

    data = _write_two_kinds(tmp_path)
    ids = data.prompt_ids
    train, test = ids[: 2 * len(ids) // 3], ids[2 * len(ids) // 3:]
    pooled = fit_policy(data, train, ["logprob"])
    assert pooled.calibration == {}  # the two kinds cancel: no separation pooled
    policy, report = measure(data, train, test, embed=_embed)
    regions = {r.name: r for r in policy.regions}
    assert set(regions) == {"x", "y"}  # z has too few prompts for a region of its own
    assert set(regions["x"].calibration) == set(MODELS) and regions["y"].calibration == {}
    assert regions["x"].measured["train_auroc"]["small"] > 0.8 and regions["y"].measured["train_auroc"]["small"] < 0.2
    assert all(data.region[p] is None for p in ids if data.categories[p] == "z")
    by_region = report["regions"]
    assert by_region["x"]["cascade"]["verified"] > 0.3
    assert by_region["y"]["cascade"]["verified"] == 0.0 and by_region["outside"]["cascade"]["verified"] == 0.0
    # on x the calibrated cascade stops at the small model when it is right often enough to beat the big one
    assert by_region["x"]["cascade"]["accuracy"] >= max(s["accuracy"] for s in by_region["x"]["single_models"]) - 0.05
    again = JudgePolicy.model_validate_json(policy.model_dump_json())
    assert again.locate(_embed(["x question"])[0]) == "x" and again.locate(_embed(["z question"])[0]) is None


def test_the_choice_takes_the_fastest_option_within_one_standard_error_of_the_most_accurate():
    from switchboard.offline.judge_fit import _most_accurate_then_fastest

    best = [1.0] * 40 + [0.0] * 40
    lucky = {"judges": ["slow"], "tiers": ["a"], "accuracy": 0.5125, "latency": 9.0, "_correct": [1.0] + best[1:]}
    lucky["_correct"][45] = 1.0  # right on one more prompt than `fast`, out of 80: noise
    fast = {"judges": ["fast"], "tiers": ["a"], "accuracy": 0.5, "latency": 1.0, "_correct": best}
    assert _most_accurate_then_fastest([lucky, fast], "accuracy", "latency") is fast
    # worse on twenty prompts and better on none: beyond the noise, the accurate option stays
    worse = {"judges": ["fast"], "tiers": ["a"], "accuracy": 0.25, "latency": 1.0, "_correct": [0.0] * 20 + best[20:]}
    accurate = {"judges": ["slow"], "tiers": ["a"], "accuracy": 0.5, "latency": 9.0, "_correct": best}
    assert _most_accurate_then_fastest([accurate, worse], "accuracy", "latency") is accurate


def test_prompts_of_small_categories_make_one_region_so_unlike_prompts_are_still_never_verified(tmp_path):
    from switchboard.offline.judge_fit import fit_regions

    data = _write_two_kinds(tmp_path, n=120)
    for p in data.prompt_ids:  # every prompt its own category: none reaches a region of its own
        data.categories[p] = p
    regions = fit_regions(data, data.prompt_ids, _embed)
    assert [r.name for r in regions] == ["all"]
    assert sum(data.region[p] is None for p in data.prompt_ids) <= 0.1 * len(data.prompt_ids)
    policy = JudgePolicy(judges=["logprob"], regions=regions)
    assert policy.locate(np.array([0.0, 0.0, -1.0])) is None  # unlike every collected prompt: outside


def _write_sampled(tmp_path, n=400, samples=5, seed=3):
    """A cheap model right 60% of the time and a slow one right 90%; the cheap model's self-verification
    samples say CORRECT with probability 0.75 on its right answers and 0.25 on its wrong ones, each sample
    recorded on its own row (as collect records them): one sample is a weak judge, the share of five a much
    better one, and better judges let the cascade keep more right cheap answers."""
    import json

    rng = np.random.default_rng(seed)
    outcomes, judges = [], []
    for i in range(n):
        pid = f"s{i:03d}"
        for model, rate, ms, cost in (("small", 0.6, 1000.0, 1e-6), ("big", 0.9, 3000.0, 1e-5)):
            correct = float(rng.random() < rate)
            outcomes.append({"prompt_id": pid, "prompt": f"q{i}", "category": "c", "subcategory": "c",
                             "reference": "A", "model": model, "response": "A", "pred": "A", "correct": correct,
                             "input_tokens": 10, "output_tokens": 1, "cost_usd": cost, "latency_ms": ms})
            for s in range(samples):
                says = float(rng.random() < (0.75 if correct else 0.25))
                judges.append({"prompt_id": pid, "model": model, "judge": f"self_verify:{model}",
                               "kind": "self_verify", "judge_model": model, "role": "self", "score": says,
                               "failed": False, "cost_usd": 1e-7, "latency_ms": 50.0, "detail": "", "sample": s})
    pd.DataFrame(outcomes).to_parquet(tmp_path / "outcomes.parquet")
    pd.DataFrame(judges).to_parquet(tmp_path / "judges.parquet")
    examples = [{"question": "q0", "answer": "A", "correct": True}]
    (tmp_path / "examples.json").write_text(json.dumps({"c": examples}))
    return Collected.read(tmp_path)


def test_samples_recorded_one_by_one_fold_as_the_request_path_folds_them_and_k_is_fitted(tmp_path):
    data = _write_sampled(tmp_path)
    table = {r["role"]: r for r in role_table(data, data.prompt_ids)}
    assert table["self_verify@1"]["auroc"] < table["self_verify@3"]["auroc"] < table["self_verify@5"]["auroc"]
    assert table["self_verify@5"]["auroc"] == table["self_verify"]["auroc"]
    # the replay runs each sample as a task of its own and folds them (the request path's step)
    policy = JudgePolicy(judges=["self_verify"], self_verify_samples=3, threshold=0.9)
    three = replay(data, data.prompt_ids, ["small", "big"], policy)
    # each tier's answer and its three samples, one after another (as on one CPU)
    assert three["mean_latency_ms"] == pytest.approx(1000.0 + 150.0 + three["escalated"] * (3000.0 + 150.0), abs=0.1)
    fitted, report = measure(data, data.prompt_ids[:300], data.prompt_ids[300:])
    assert fitted.judges == ["self_verify"] and fitted.self_verify_samples > 1
    assert fitted.examples == data.examples["c"]  # the examples its verdicts were measured with
    tried = report["judge_sets_tried"]["all"]
    assert {t["self_verify_samples"] for t in tried} == {1, 3, 5}
