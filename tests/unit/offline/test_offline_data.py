import numpy as np
import pytest

from switchboard.offline.outcomes import infer_prices, load_outcomes, split_rows
from tests.support.offline_synth import MODELS, make_frame, write_parquet


def test_load_dense_and_extract(tmp_path):
    data = load_outcomes(write_parquet(tmp_path / "d.parquet", n_per_category=10, ungraded=3))
    assert data.n == 30 and data.models == sorted(MODELS)
    assert np.isnan(data.labels.correct).sum() == 3
    # extracted letters: the answer ids group equal letters; correct rows share the gold letter
    for i in range(data.n):
        gold = {data.answers[i, j] for j in range(data.k) if data.labels.correct[i, j] == 1.0}
        assert len(gold) <= 1
    assert (data.answer_ids >= 0).all()


def test_incomplete_prompts_are_dropped(tmp_path):
    frame = make_frame(n_per_category=5)
    frame = frame.drop(frame.index[0])
    frame.to_parquet(tmp_path / "d.parquet")
    with pytest.warns(UserWarning):
        data = load_outcomes(tmp_path / "d.parquet")
    assert data.n == 14


def test_split_is_deterministic_and_order_free():
    ids = [f"p{i}" for i in range(100)]
    tr, va = split_rows(ids, 0.3, seed=7)
    assert len(va) == 30 and not set(tr) & set(va)
    shuffled = list(reversed(ids))
    tr2, va2 = split_rows(shuffled, 0.3, seed=7)
    assert sorted(shuffled[i] for i in va2) == sorted(ids[i] for i in va)
    assert not np.array_equal(split_rows(ids, 0.3, seed=8)[1], va)


def test_prices_fit_recorded_costs(tmp_path):
    data = load_outcomes(write_parquet(tmp_path / "d.parquet", n_per_category=10))
    prices = infer_prices(data)
    assert set(prices) == set(MODELS)
    assert prices["big"]["input_usd_per_mtok"] + prices["big"]["output_usd_per_mtok"] > \
        prices["cheap-a"]["input_usd_per_mtok"] + prices["cheap-a"]["output_usd_per_mtok"]


def test_efficient_tiers_drop_a_cheap_model_that_does_not_pay_for_itself():
    import numpy as np

    from switchboard.offline.routing_fit import efficient_tiers

    models = ["weak-cheap", "good-cheap", "big"]
    # weak-cheap: 30% right at half of good-cheap's price -> trying it first costs more than it saves
    tiers = efficient_tiers(np.array([0.3, 0.9, 0.92]), np.array([1.0, 2.0, 50.0]), models)
    assert tiers == ["good-cheap", "big"]
    # a 90%-accurate model at a tenth of the next one's price is worth trying first
    tiers = efficient_tiers(np.array([0.9, 0.6, 0.95]), np.array([1.0, 10.0, 20.0]), models)
    assert tiers == ["weak-cheap", "big"]
    # 48% right at half the next one's price: it would save 0.48 x 2 per call, but costs 1 + 1 for judging
    # (MMLU-Pro business: Llama-3.1-8B before gemini-flash)
    tiers = efficient_tiers(np.array([0.48, 0.71, 0.80]), np.array([1.0, 2.0, 30.0]), models)
    assert tiers == ["good-cheap", "big"]
    # the most accurate model always closes the list, even when it is the cheapest
    assert efficient_tiers(np.array([0.5, 0.4, 0.3]), np.array([1.0, 2.0, 3.0]), models) == ["weak-cheap"]


def test_train_and_eval_report_unusable_inputs_without_a_traceback(tmp_path, capsys):
    import pandas as pd

    from switchboard import cli

    not_parquet = tmp_path / "notes.parquet"
    not_parquet.write_text("just text")
    wrong_schema = tmp_path / "wrong.parquet"
    pd.DataFrame({"prompt_id": ["a"], "prompt": ["p"]}).to_parquet(wrong_schema)
    cases = [
        (["train", "--data", str(tmp_path / "missing.parquet")], "no such file"),
        (["train", "--data", str(not_parquet)], "not a readable Parquet file"),
        (["eval", "--train", str(wrong_schema), "--data", str(wrong_schema)], "missing columns"),
    ]
    for argv, message in cases:
        assert cli.main([*argv, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
