"""``eval --compound``: compound requests answered whole against decomposed, offline and through the stack.

The synthetic data is embedded with the packaged encoder (the one the local stack routes with), so the
offline replay and the stack place every prompt alike."""

import json

import numpy as np
import pytest

from switchboard.offline.artifacts import load_artifacts, write_artifacts
from switchboard.offline.embeddings import embed_prompts
from switchboard.offline.evaluation.compound import (
    NO_SPLIT,
    OK,
    WRONG,
    SimulatedDecomposer,
    compound_outcomes,
    compound_replay,
    compounds_for,
    decomposer_cost,
    decomposer_of,
    fates,
    token_counter,
)
from switchboard.offline.evaluation.deployed import deployed_outcomes
from switchboard.offline.fit import TrainConfig, fit_system
from switchboard.offline.outcomes import load_outcomes, split_rows
from tests.support.offline_synth import write_parquet

CONFIG = TrainConfig(router_folds=3, verifier_folds=2, subsets_per_prompt=3, min_category_prompts=20)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compound")
    data = load_outcomes(write_parquet(tmp / "d.parquet", n_per_category=50, ungraded=3))
    emb = embed_prompts(data.prompts, cache_dir=tmp / "cache", progress=False)
    tr, va = split_rows(data.prompt_ids, 0.4, seed=7)
    system, _ = fit_system(data.subset(tr), emb[tr], {}, CONFIG, progress=False)
    art_dir = write_artifacts(system, tmp / "art", dataset="synthetic")
    test = data.subset(va)
    compounds = compounds_for(test, 40, seed=3)
    e_compound = embed_prompts([c.text for c in compounds], cache_dir=tmp / "cache", progress=False)
    return tmp, art_dir, test, emb[va], compounds, e_compound


def test_a_compounds_outcome_is_right_only_when_every_part_is_and_costs_their_sum(deployed):
    _, _, test, _, compounds, _ = deployed
    whole = compound_outcomes(test, compounds)
    assert whole.n == len(compounds) and whole.models == test.models
    graded = ~np.isnan(test.labels.correct).any(axis=1)
    for i, c in enumerate(compounds):
        rows = list(c.members)
        assert all(graded[r] for r in rows)  # built only from prompts every model was graded on
        assert np.allclose(whole.cost[i], test.cost[rows].sum(axis=0))
        assert np.array_equal(whole.labels.correct[i], test.labels.correct[rows].min(axis=0))
        for j in range(test.k):
            for jj in range(test.k):  # two models agree on a compound when they agree on every part
                agree = all(test.answer_ids[r, j] == test.answer_ids[r, jj] for r in rows)
                assert (whole.answer_ids[i, j] == whole.answer_ids[i, jj]) == agree
    assert {len(c.members) for c in compounds} == {2, 3}


def test_the_simulated_decomposer_fails_at_its_rate_in_its_proportions():
    draws = fates(20_000, SimulatedDecomposer(error=0.3, no_split=0.75, source="test"), seed=1)
    assert abs((draws != OK).mean() - 0.3) < 0.015
    assert abs((draws == NO_SPLIT).mean() - 0.3 * 0.75) < 0.015
    assert (draws == WRONG).any() and (fates(500, SimulatedDecomposer(0.0, 1.0, "t"), seed=1) == OK).all()


def test_decomposed_replay_answers_each_part_on_its_own_cascade_and_pays_the_decomposer(deployed):
    _, art_dir, test, e_test, compounds, e_compound = deployed
    art = load_artifacts(art_dir)
    count = token_counter()
    perfect = compound_replay(art, test, e_test, compounds, e_compound, SimulatedDecomposer(0.0, 1.0, "perfect"),
                              seed=0, count=count)
    assert perfect["prompts"] == 40 and perfect["detector"]["recall"] == 1.0
    assert perfect["detector"]["false_positives_on_single_prompts"] == 0
    single = deployed_outcomes(art, test, e_test)
    spent = np.asarray([decomposer_cost(c, decomposer_of(c, art.catalog), count) for c in compounds])
    assert (spent > 0).all()
    correct = test.labels.correct
    for row in perfect["points"]:
        s = single[row["point"]]
        right = np.mean([all(correct[m, s.rep[m]] == 1 for m in c.members) for c in compounds])
        cost = np.mean([sum(s.cost[m] for m in c.members) for c in compounds]) + spent.mean()
        assert row["decomposed"]["accuracy"] == pytest.approx(right, abs=1e-4)
        assert row["decomposed"]["cost_per_1k_usd"] == pytest.approx(cost * 1000, rel=1e-4)
        assert row["decomposed_by_error"]["0"] == row["decomposed"]
    # a decomposer that never splits leaves every request whole, and its calls are still paid for
    never = compound_replay(art, test, e_test, compounds, e_compound, SimulatedDecomposer(1.0, 1.0, "never"),
                            seed=0, count=count)
    for row in never["points"]:
        assert row["decomposed"]["accuracy"] == row["whole"]["accuracy"]
        assert row["decomposed"]["cost_per_1k_usd"] == pytest.approx(
            row["whole"]["cost_per_1k_usd"] + spent.mean() * 1000, rel=1e-4)
        assert not row["decomposition_wins"]
    assert never["bar"]["met"] is False and never["decomposer"]["outcomes"]["no_split"] == 40


def test_the_decomposed_replay_through_the_local_stack_reaches_the_offline_decisions(deployed):
    """The Map over parts in the synthesised state machine, with the request path's detector and the
    decomposer's call, returns each part from the model the offline replay chose, at the same cost."""
    from switchboard.offline.evaluation.via_stack import via_stack_compound

    _, art_dir, test, e_test, compounds, _ = deployed
    row = via_stack_compound(art_dir, test, e_test, compounds[:12], progress=False)
    assert row["decomposition"] is True and row["prompts"] == 12
    assert row["errors"] == 0 and row["same_decisions"] == 1.0, row
    assert row["stack"] == row["offline"], row


def test_measured_decomposer_reads_the_best_model_of_the_benchmark(tmp_path):
    path = tmp_path / "decomposer.json"
    path.write_text(json.dumps({
        "a": {"compounds": 30, "command": "python benchmarks/decomposer.py --model a",
              "decomposer": {"error_rate": 0.9, "no_split": 0.6}},
        "b": {"compounds": 30, "decomposer": {"error_rate": 0.4, "no_split": 0.3}}}))
    measured = SimulatedDecomposer.measured(path)
    assert measured.error == 0.4 and measured.no_split == pytest.approx(0.75) and measured.source.startswith("b ")
