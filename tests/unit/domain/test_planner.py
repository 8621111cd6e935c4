import numpy as np
import pytest

from switchboard.domain.catalog import ModelEntry, ModelPrice
from switchboard.domain.planner import PlannerConfig, PlanningError, build_plan, order_by_learned
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.taxonomy import Category, CentroidIndex, Match, centroid


def entry(mid, price):
    return ModelEntry(model_id=mid, provider="openai", provider_model=mid, endpoint="http://127.0.0.1:1/v1",
                      price=ModelPrice(input_usd_per_mtok=price, output_usd_per_mtok=price * 2))


CATALOG = {"small": entry("small", 0.1), "mid": entry("mid", 1.0), "big": entry("big", 10.0)}
REQ = ChatRequest(messages=[Message(role="user", content="hello " * 40)], max_tokens=100)
CONFIG = PlannerConfig(default_tiers=["small", "mid", "big"])


def test_weak_taxonomy_match_falls_back_to_default_plan():
    cat = Category(name="code", centroid=[1.0, 0.0], tiers=["big"])
    plan = build_plan(request=REQ, catalog=CATALOG, config=CONFIG, match=Match(category="code", similarity=0.1),
                      category=cat)
    assert plan.route == "default"
    assert [t.model for t in plan.tiers] == ["small", "mid", "big"]


def test_strong_taxonomy_match_uses_category_tiers():
    cat = Category(name="code", centroid=[1.0, 0.0], tiers=["mid", "big"])
    plan = build_plan(request=REQ, catalog=CATALOG, config=CONFIG, match=Match(category="code", similarity=0.9),
                      category=cat)
    assert (plan.route, plan.category) == ("taxonomy", "code")
    assert [t.model for t in plan.tiers] == ["mid", "big"]


def test_every_tier_gets_two_judges_and_llm_judge_is_a_stronger_model():
    plan = build_plan(request=REQ, catalog=CATALOG, config=CONFIG)
    first = plan.tiers[0]
    assert [j.kind for j in first.judges] == ["self_verify", "llm_judge"]
    assert first.judges[0].model == "small" and first.judges[1].model == "mid"
    assert plan.tiers[-1].judges[1].model == "mid"  # the top tier is judged by another model


def test_tier_cost_estimate_grows_with_model_price():
    plan = build_plan(request=REQ, catalog=CATALOG, config=CONFIG)
    costs = [t.est_cost_usd for t in plan.tiers]
    assert costs == sorted(costs) and costs[0] > 0


def test_unknown_pinned_model_is_a_planning_error():
    with pytest.raises(PlanningError, match="unknown model 'gpt-9'"):
        build_plan(request=REQ, catalog=CATALOG, config=CONFIG, pinned_model="gpt-9")


def test_pinned_model_gives_single_tier():
    plan = build_plan(request=REQ, catalog=CATALOG, config=CONFIG, pinned_model="mid")
    assert (plan.route, [t.model for t in plan.tiers]) == ("pinned", ["mid"])


def test_models_missing_from_catalog_are_skipped_and_empty_plan_errors():
    cat = Category(name="x", centroid=[1.0], tiers=["gone", "big"])
    plan = build_plan(request=REQ, catalog=CATALOG, config=CONFIG, match=Match(category="x", similarity=1.0),
                      category=cat)
    assert [t.model for t in plan.tiers] == ["big"]
    with pytest.raises(PlanningError):
        build_plan(request=REQ, catalog={}, config=PlannerConfig(default_tiers=["nothing"]))


def test_learned_order_puts_cheap_good_models_first_and_best_last():
    order = order_by_learned({"small": 0.7, "mid": 0.4, "big": 0.9}, CATALOG, floor=0.5, max_tiers=3)
    assert order == ["small", "big"]
    plan = build_plan(request=REQ, catalog=CATALOG, config=CONFIG, learned={"small": 0.2, "mid": 0.6, "big": 0.5})
    assert plan.route == "learned" and [t.model for t in plan.tiers] == ["mid"]


def test_centroid_index_finds_nearest_by_cosine():
    cats = [Category(name="a", centroid=[1.0, 0.0], tiers=["small"]),
            Category(name="b", centroid=[0.0, 2.0], tiers=["big"])]
    index = CentroidIndex(cats)
    match = index.nearest(np.array([0.6, 0.8], dtype=np.float32))
    assert match.category == "b" and abs(match.similarity - 0.8) < 1e-6
    c = centroid(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert abs(np.linalg.norm(c) - 1.0) < 1e-6


@pytest.mark.parametrize(("similarity", "bar", "route"), [
    (0.30, 0.25, "taxonomy"),  # a broad category: 0.30 is familiar although under the global 0.35
    (0.20, 0.25, "default"),   # ... but not below its own bar
    (0.50, 0.90, "taxonomy"),  # a tight category does not raise the bar above the global 0.35
    (0.30, 0.90, "default"),
    (0.30, None, "default"),   # no trained bar: the global threshold applies
])
def test_a_broad_category_trained_bar_lowers_the_global_similarity_threshold(similarity, bar, route):
    cat = Category(name="code", centroid=[1.0, 0.0], tiers=["mid", "big"], min_similarity=bar)
    plan = build_plan(request=REQ, catalog=CATALOG, config=CONFIG,
                      match=Match(category="code", similarity=similarity), category=cat)
    assert plan.route == route


def test_a_single_tier_plan_still_gets_an_independent_llm_judge():
    verified = REQ.model_copy(update={"verify": True})
    plan = build_plan(request=verified, catalog=CATALOG, config=CONFIG, pinned_model="big")
    judges = {j.kind: j.model for j in plan.tiers[0].judges}
    assert judges == {"self_verify": "big", "llm_judge": "small"}  # the cheapest other catalogue model


def test_a_pinned_model_is_judged_only_when_the_request_asks():
    plain = build_plan(request=REQ, catalog=CATALOG, config=CONFIG, pinned_model="big")
    assert plain.route == "pinned" and [t.judges for t in plain.tiers] == [[]]
    assert plain.tiers[0].calibration is None
    # its bound is the call alone: a budget that pays for the call but not for judges still fits
    verified = build_plan(request=REQ.model_copy(update={"verify": True}), catalog=CATALOG, config=CONFIG,
                          pinned_model="big")
    assert plain.tiers[0].est_cost_usd < verified.tiers[0].est_cost_usd
    capped = REQ.model_copy(update={"max_cost_usd": plain.tiers[0].est_cost_usd})
    assert build_plan(request=capped, catalog=CATALOG, config=CONFIG, pinned_model="big").tiers[0].judges == []


def test_the_shipped_seed_taxonomy_only_escalates_to_dearer_models():
    import json
    from pathlib import Path

    import switchboard

    data = Path(switchboard.__file__).parent / "data"
    prices = {e["model_id"]: e["price"]["input_usd_per_mtok"] + e["price"]["output_usd_per_mtok"]
              for e in json.loads((data / "catalog.local.json").read_text())}
    for name, spec in json.loads((data / "taxonomy.seed.json").read_text())["categories"].items():
        costs = [prices[m] for m in spec["tiers"]]
        assert costs == sorted(costs), f"category {name} escalates to a cheaper model: {spec['tiers']}"


def test_a_measured_policy_without_calibration_sets_judges_and_bar_but_never_verifies():
    from switchboard.domain.judging import Calibration, JudgePolicy

    policy = JudgePolicy(judges=["logprob"], threshold=0.8, calibration={"big": Calibration(xs=[0, 1], ys=[0.1, 0.9])},
                         measured={"train_auroc": {"small": 0.5, "big": 0.8}})
    config = PlannerConfig(default_tiers=["small", "mid", "big"], judge_policy=policy)
    plan = build_plan(request=REQ, catalog=CATALOG, config=config)
    by_model = {t.model: t for t in plan.tiers}
    assert [j.kind for j in by_model["small"].judges] == ["logprob"] and by_model["small"].calibration is None
    assert [j.kind for j in by_model["big"].judges] == ["logprob"] and by_model["big"].calibration is not None
    assert [j.kind for j in by_model["mid"].judges] == ["self_verify", "llm_judge"]  # never measured: defaults


def test_a_policy_that_measured_a_tier_not_worth_its_time_skips_it_but_never_the_last_or_a_pinned_one():
    from switchboard.domain.judging import JudgePolicy

    policy = JudgePolicy(judges=["confidence"], threshold=0.9, skip=["small", "unmeasured"],
                         measured={"train_auroc": {"small": 0.5, "big": 0.5}})
    config = PlannerConfig(default_tiers=["small", "mid", "big"], judge_policy=policy)
    assert [t.model for t in build_plan(request=REQ, catalog=CATALOG, config=config).tiers] == ["mid", "big"]
    assert [t.model for t in build_plan(request=REQ, catalog=CATALOG, config=config).tiers] == ["mid", "big"]
    only_small = Category(name="chat", centroid=[1.0], tiers=["small"])
    plan = build_plan(request=REQ, catalog=CATALOG, config=config, match=Match(category="chat", similarity=0.9),
                      category=only_small)
    assert [t.model for t in plan.tiers] == ["small"]  # a plan needs a model
    unmeasured_then_small = Category(name="drill", centroid=[1.0], tiers=["mid", "small"])
    plan = build_plan(request=REQ, catalog=CATALOG, config=config, match=Match(category="drill", similarity=0.9),
                      category=unmeasured_then_small)
    assert [t.model for t in plan.tiers] == ["mid", "small"]  # no measured model to go straight to: as planned
    assert [t.model for t in build_plan(request=REQ, catalog=CATALOG, config=config,
                                        pinned_model="small").tiers] == ["small"]
    # a model the policy never measured is not skipped on its say-so
    catalog = {**CATALOG, "unmeasured": entry("unmeasured", 0.05)}
    plan = build_plan(request=REQ, catalog=catalog, config=config.model_copy(
        update={"default_tiers": ["unmeasured", "big"]}))
    assert [t.model for t in plan.tiers] == ["unmeasured", "big"]
