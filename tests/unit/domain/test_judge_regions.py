"""Judge policies measured per region of prompts: where a prompt falls (``JudgePolicy.locate``), what applies
there (``JudgePolicy.scoped``), and the plan the router builds from it."""

from __future__ import annotations

import numpy as np

from switchboard.domain.judging import Calibration, JudgePolicy, JudgeRegion
from switchboard.domain.planner import PlannerConfig, build_plan
from switchboard.domain.requests import ChatRequest, Message
from tests.support.fakes import catalog_entry

CAL = Calibration(xs=[0.0, 1.0], ys=[0.1, 0.95])


def _policy() -> JudgePolicy:
    return JudgePolicy(
        judges=["confidence"], threshold=0.3, skip=[], measured={"train_auroc": {"small": 0.55, "big": 0.55}},
        regions=[
            JudgeRegion(name="science", centroid=[1.0, 0.0, 0.0], min_similarity=0.8, calibration={"big": CAL},
                        threshold=0.7, skip=["small"], measured={"train_auroc": {"small": 0.5, "big": 0.77}}),
            JudgeRegion(name="arithmetic", centroid=[0.0, 1.0, 0.0], min_similarity=0.5,
                        calibration={"small": CAL, "big": CAL}, threshold=0.8,
                        measured={"train_auroc": {"small": 0.8, "big": 0.7}}),
        ])


def test_a_prompt_is_placed_in_the_nearest_region_only_when_it_is_close_enough_to_it():
    policy = _policy()
    assert policy.locate(np.array([1.0, 0.1, 0.0])) == "science"
    assert policy.locate(np.array([0.2, 1.0, 0.1])) == "arithmetic"
    # nearest to science, but less similar to it than its own prompts were: like no measured prompt
    assert policy.locate(np.array([0.7, 0.0, 0.7])) is None
    assert policy.locate(np.array([1.0, 0.0, 0.0, 0.0])) is None  # another encoder's embedding
    assert JudgePolicy(judges=["confidence"]).locate(np.array([1.0, 0.0, 0.0])) is None


def test_inside_a_region_its_calibration_bar_and_skips_apply_and_outside_nothing_is_calibrated():
    policy = _policy()
    science = policy.scoped("science")
    assert science.calibration_for("big") == CAL and science.calibration_for("small") is None
    assert science.threshold == 0.7 and science.skip == ["small"] and science.regions == []
    assert science.measured["train_auroc"]["big"] == 0.77
    outside = policy.scoped(None)
    assert outside.calibration == {} and outside.threshold == 0.3 and outside.skip == []
    assert outside.covers("big")  # measured over all prompts: its judges still decide escalation
    plain = JudgePolicy(judges=["confidence"], calibration={"big": CAL})
    assert plain.scoped(None) is plain  # a policy measured without regions applies everywhere


def test_the_planner_lays_out_the_regions_measurement():
    catalog = {m: catalog_entry(m, price=p) for m, p in (("small", 0.1), ("big", 5.0))}
    request = ChatRequest(messages=[Message(role="user", content="q")], max_tokens=16)

    def plan(region):
        config = PlannerConfig(default_tiers=["small", "big"], judge_policy=_policy().scoped(region))
        return build_plan(request=request, catalog=catalog, config=config)

    science, arithmetic, outside = plan("science"), plan("arithmetic"), plan(None)
    assert [t.model for t in science.tiers] == ["big"] and science.tiers[0].calibration == CAL
    assert science.tiers[0].threshold == 0.7
    assert [t.model for t in arithmetic.tiers] == ["small", "big"]
    assert all(t.calibration == CAL and t.threshold == 0.8 for t in arithmetic.tiers)
    assert [t.model for t in outside.tiers] == ["small", "big"]
    assert all(t.calibration is None and t.threshold == 0.3 for t in outside.tiers)


def test_a_policy_with_regions_survives_json():
    policy = _policy()
    again = JudgePolicy.model_validate_json(policy.model_dump_json())
    assert again == policy and again.locate(np.array([0.0, 1.0, 0.0])) == "arithmetic"
