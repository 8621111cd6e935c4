"""train -> artifacts -> load, and eval end to end on a tiny synthetic dataset with a fake encoder."""

import json

import numpy as np
import pytest

from switchboard import cli
from switchboard.cli import training_cmds as offline_cli
from switchboard.domain.catalog import ModelEntry
from switchboard.domain.taxonomy import Category, routing_text
from switchboard.local.seed import load_taxonomy
from switchboard.offline.answer_signals import embed_answers
from switchboard.offline.artifacts import catalog_items, load_artifacts, taxonomy_items, write_artifacts
from switchboard.offline.embeddings import embed_texts
from switchboard.offline.evaluation.evaluate import evaluate
from switchboard.offline.evaluation.report import strategy_table
from switchboard.offline.fit import TrainConfig, fit_system
from switchboard.offline.outcomes import load_outcomes, split_rows
from switchboard.offline.verifier import training_rows
from tests.support.offline_synth import fake_encoder, write_parquet

CONFIG = TrainConfig(router_folds=3, verifier_folds=2, subsets_per_prompt=3, min_category_prompts=20)


def _fake_embeddings(monkeypatch, tmp_path):
    """The CLI's prompt and answer embeddings from the fake encoder (the answers' through a temporary cache)."""
    monkeypatch.setattr(offline_cli, "_embed", lambda d, progress: fake_encoder().embed([routing_text(p) for p in d.prompts]))
    monkeypatch.setattr(offline_cli, "_embed_answers", lambda d, progress: embed_answers(
        d.responses, encoder=fake_encoder(), cache_dir=tmp_path / "answer-cache", progress=False))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("offline")
    data = load_outcomes(write_parquet(tmp / "d.parquet", n_per_category=60, ungraded=2))
    emb = embed_texts([routing_text(p) for p in data.prompts], encoder=fake_encoder(), cache_dir=tmp / "cache",
                      progress=False)
    tr, va = split_rows(data.prompt_ids, 0.3, seed=7)
    return tmp, data, emb, tr, va


def test_embedding_cache_round_trip(tmp_path):
    texts = ["alpha one", "beta two", "alpha one"]
    first = embed_texts(texts, encoder=fake_encoder(), cache_dir=tmp_path, progress=False)

    class Exploding:
        def embed(self, texts):
            raise AssertionError("should be cached")

    again = embed_texts(texts, encoder=Exploding(), cache_dir=tmp_path, progress=False)
    assert np.array_equal(first, again) and np.array_equal(first[0], first[2])


def test_train_writes_loadable_artifacts(trained):
    tmp, data, emb, tr, va = trained
    train = data.subset(tr)
    system, _ = fit_system(train, emb[tr], {}, CONFIG, progress=False)
    out = write_artifacts(system, tmp / "art", dataset="synthetic")
    art = load_artifacts(out)
    assert art.models == data.models
    # ONNX router and verifier reproduce the scikit-learn models
    assert np.allclose(art.router.predict_batch(emb[va]), system.router.predict(emb[va]), atol=1e-5)
    X = training_rows(data.answer_ids[va], data.labels.correct[va], system.router.predict(emb[va]),
                      np.vectorize(len, otypes=[float])(data.responses[va]), per_prompt=3).X
    assert np.allclose(art.verifier.predict(X), system.verifier.predict(X), atol=1e-5)
    assert len(art.verifier.features) == X.shape[1]
    # taxonomy: one category per label, readable by the local stack's loader
    assert {c.name for c in art.taxonomy} == {"alpha", "beta", "gamma"}
    assert [c.name for c in load_taxonomy(out / "taxonomy.json")] == [c.name for c in art.taxonomy]
    alpha = next(c for c in art.taxonomy if c.name == "alpha")
    assert alpha.tiers[-1] in ("cheap-a", "big") and len(alpha.centroid) == emb.shape[1]
    # the dial: named operating points with thresholds, orders, calibration
    assert art.dial.points and all(p.name.startswith("dial") for p in art.dial.points)
    assert set(art.dial.profiles) == {"economy", "balanced", "best"}
    assert set(art.dial.profiles.values()) <= {p.name for p in art.dial.points}
    assert art.dial.category_orders and art.dial.global_order[-1] in art.dial.models
    assert art.dial.verifier_sha256 == art.verifier.sha256
    assert all(e.provider == "replay" for e in art.catalog)
    # DynamoDB items round-trip through the store's format (body = the model's JSON)
    items = taxonomy_items(art.taxonomy)
    assert items[0]["category"]["S"] == art.taxonomy[0].name
    assert Category.model_validate_json(items[0]["body"]["S"]) == art.taxonomy[0]
    citems = catalog_items(art.catalog)
    assert ModelEntry.model_validate_json(citems[0]["body"]["S"]) == art.catalog[0]
    assert json.loads((out / "dynamodb" / "taxonomy_items.json").read_text())[0]["category"]["S"]


def test_eval_structure_and_sanity(trained):
    tmp, data, emb, tr, va = trained
    results, _ = evaluate(data.subset(tr), data.subset(va), emb[tr], emb[va], {}, "synthetic", CONFIG,
                          progress=False)
    assert results["dataset"] == "synthetic" and results["prompts"] == len(va)
    kinds = {s["kind"] for s in results["strategies"]}
    assert kinds == {"single", "oracle", "baseline", "switchboard"}
    names = [s["name"] for s in results["strategies"]]
    for family in ("random", "knn", "routellm-mf", "routellm-bert", "automix-threshold", "automix-pomdp",
                   "frugalgpt", "avengers-pro", "cascade-routing", "sb-taxonomy", "sb-learned", "sb-combined",
                   "sb-cascade"):
        assert any(s["params"]["family"] == family for s in results["strategies"]), family
    assert len(names) == len(set(names))
    oracle = next(s for s in results["strategies"] if s["kind"] == "oracle")
    for s in results["strategies"]:
        assert set(s) == {"name", "kind", "accuracy", "cost_per_1k_usd", "escalation_rate", "params"}
        assert 0.0 <= s["accuracy"] <= oracle["accuracy"] + 1e-9
        assert s["cost_per_1k_usd"] >= 0
        is_cascade = s["params"]["family"] in ("automix-threshold", "automix-pomdp", "frugalgpt", "cascade-routing",
                                               "sb-cascade")
        assert (s["escalation_rate"] is not None) == is_cascade
    singles = {s["name"]: s for s in results["strategies"] if s["kind"] == "single"}
    test = data.subset(va)
    for j, m in enumerate(test.models):
        assert singles[m]["accuracy"] == pytest.approx(np.nanmean(test.labels.correct[:, j]), abs=1e-4)
        assert singles[m]["cost_per_1k_usd"] == pytest.approx(test.cost[:, j].mean() * 1000, rel=1e-3)
    assert set(results["aiq"]) >= {"switchboard (all points)", "knn", "frugalgpt", "random"}
    assert all(0 <= v <= 1 for v in results["aiq"].values())
    assert set(results["bars"]) == {"plus3_at_quarter_cost", "match_at_tenth_cost", "aiq_above_every_baseline"}
    table = strategy_table(results)
    assert "| oracle |" in table and "(best single)" in table


def test_cli_eval_same_file_uses_validation_split(trained, tmp_path, monkeypatch):
    _, data, _, _, _ = trained
    path = write_parquet(tmp_path / "d.parquet", n_per_category=40)
    _fake_embeddings(monkeypatch, tmp_path)
    assert cli.main(["eval", "--train", str(path), "--data", str(path), "--out", str(tmp_path / "out"),
                     "--split", "0.3", "--seed", "7", "--no-progress"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["prompts"] == 36  # 30% of 120 prompts
    assert (tmp_path / "out" / "pareto.png").stat().st_size > 10_000
    assert results["label_source"] == "gold"
    assert results["meta_verifier"]["measured"].keys() == {"threshold", "pomdp"}


def test_cli_trains_on_reference_labels_and_eval_scores_them_on_gold(tmp_path, monkeypatch, capsys):
    path = write_parquet(tmp_path / "d.parquet", n_per_category=40)
    _fake_embeddings(monkeypatch, tmp_path)
    assert cli.main(["train", "--data", str(path), "--out", str(tmp_path / "run"), "--labels", "reference",
                     "--reference", "panel", "--no-progress"]) == 0
    labels = json.loads((tmp_path / "run" / "labels.json").read_text())
    assert labels["label_source"] == "reference" and labels["reference"] == "panel"
    assert "labels by reference (panel)" in capsys.readouterr().out
    assert cli.main(["eval", "--train", str(path), "--data", str(path), "--out", str(tmp_path / "out"),
                     "--labels", "reference", "--no-progress"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["label_source"] == "reference" and results["reference"]["reference"] == "big"
    assert results["prompts"] == 36  # evaluated on every held-out prompt, on gold
    assert cli.main(["train", "--data", str(path), "--out", str(tmp_path / "bad"), "--labels", "reference",
                     "--reference", "gpt-9", "--no-progress"]) == 2
    assert "not a model of the data" in capsys.readouterr().err


def test_report_doc_rewrites_only_the_generated_blocks_from_results(trained, tmp_path, monkeypatch):
    from switchboard.offline.evaluation import report

    path = write_parquet(tmp_path / "d.parquet", n_per_category=40)
    _fake_embeddings(monkeypatch, tmp_path)
    assert cli.main(["eval", "--train", str(path), "--data", str(path), "--out", str(tmp_path / "run"),
                     "--no-progress"]) == 0
    doc = tmp_path / "docs" / "bench.md"
    doc.parent.mkdir()
    doc.write_text("# Title\nhand-written intro\n<!-- generated:summary:begin -->\nstale\n"
                   "<!-- generated:summary:end -->\nprose\n<!-- generated:results:begin -->\nold numbers\n"
                   "<!-- generated:results:end -->\nhand-written outro\n")
    results = tmp_path / "run" / "results.json"
    assert report.main(["doc", str(doc), f"synth=Synthetic:{results},{results}"]) == 0
    text = doc.read_text()
    assert "stale" not in text and "old numbers" not in text
    assert "hand-written intro" in text and "prose" in text and "hand-written outro" in text
    best = json.loads(results.read_text())["best_single"]
    assert f"{best['name']} {best['accuracy']:.3f}" in text  # the summary row quotes the run's best model
    assert (doc.parent / "img" / "pareto_synth.png").stat().st_size > 10_000
    doc.write_text("no markers")
    with pytest.raises(SystemExit, match="markers"):
        report.main(["doc", str(doc), f"synth=Synthetic:{results}"])


def test_the_request_path_reaches_the_offline_replays_decisions(trained):
    """The cascade a deployment runs is the one measured: every point of a trained dial, planned by the
    router service from the published dial and run by the request path's own tier, judge and decide
    tasks (replay providers), returns the same model's answer at the same cost as the offline replay."""
    from switchboard.adapters.learned import OnnxLearnedRouter
    from switchboard.adapters.providers.recorded import RecordedProviders
    from switchboard.offline.evaluation.deployed import deployed_outcomes
    from tests.support.builder import build_services
    from tests.support.fakes import InMemoryPolicy, InMemoryTaxonomy

    tmp, data, emb, tr, va = trained
    system, _ = fit_system(data.subset(tr), emb[tr], {}, CONFIG, progress=False)
    # a POMDP meta-verifier at the balanced point's costly decision (accepting only a band of confidence:
    # nothing a bar expresses), so the comparison covers a point that deploys one
    from switchboard.domain.judging import Calibration

    band = Calibration(xs=[0.0, 0.4, 0.4001, 0.8, 0.8001, 1.0], ys=[0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    balanced = system.profiles["balanced"]
    system.points = [p.model_copy(update={"meta": {"*": band}}) if p.name == balanced and p.models >= 2 else p
                     for p in system.points]
    art = load_artifacts(write_artifacts(system, tmp / "deployed", dataset="synthetic"))
    assert any(p.meta for p in art.dial.points)
    test = data.subset(va)
    offline = deployed_outcomes(art, test, emb[va])
    service = build_services(art.catalog, providers=RecordedProviders(test), taxonomy=InMemoryTaxonomy(art.taxonomy),
                             encoder=fake_encoder, verifier=art.verifier, learned=OnnxLearnedRouter(art.directory),
                             policy=InMemoryPolicy(art.dial), verifier_sha256=art.verifier.sha256, axes=art.axes)
    compared = 0
    for profile, point, i, state, expected in _every_profile_through_the_request_path(service, art, test, offline):
        assert state.plan.route == "dial" and state.plan.point == point
        assert state.decision.answer_model == test.models[expected.rep[i]], (profile, i)
        assert state.spent_usd == pytest.approx(expected.cost[i], abs=1e-12), (profile, i)
        assert len(state.attempts) == expected.tiers_used[i]
        compared += 1
    assert compared == len(art.dial.profiles) * test.n >= 3 * 30


def test_a_verifier_reading_the_answers_decides_on_the_request_path_as_in_the_offline_replay(tmp_path):
    """A verifier trained on the answers' own features (their embedding and token log-probability) is
    published with what the decide task needs to rebuild them (the projection, in verifier.json and in the
    ONNX metadata its sha256 covers); the request path's decide task, computing them from the answers it
    bought, reaches the offline replay's decisions, and the replay's engine scored no row the batch did not."""
    from switchboard.adapters.learned import OnnxLearnedRouter
    from switchboard.adapters.providers.recorded import RecordedProviders
    from switchboard.offline.evaluation.deployed import deployed_outcomes
    from tests.support.builder import build_services
    from tests.support.fakes import InMemoryPolicy, InMemoryTaxonomy
    from tests.support.offline_synth import make_frame, with_answer_signals

    path = tmp_path / "d.parquet"
    with_answer_signals(make_frame(n_per_category=40)).to_parquet(path)
    data = load_outcomes(path)
    assert data.mean_logprob is not None
    encoder = fake_encoder()
    emb = encoder.embed([routing_text(p) for p in data.prompts])
    answers = embed_answers(data.responses, encoder=encoder, cache_dir=tmp_path / "cache", progress=False)
    tr, va = split_rows(data.prompt_ids, 0.3, seed=7)
    config = TrainConfig(router_folds=3, verifier_folds=2, subsets_per_prompt=3, min_category_prompts=20,
                         answer_features="all", answer_dims=(4,))
    system, _ = fit_system(data.subset(tr), emb[tr], {}, config, progress=False, answer_vectors=answers[tr])
    assert system.verifier.answer_features.groups() == ["embedding:4", "logprob"]
    art = load_artifacts(write_artifacts(system, tmp_path / "deployed", dataset="synthetic"))
    assert art.verifier.answer_features == system.verifier.answer_features
    described = json.loads((art.directory / "verifier.json").read_text())
    assert described["features"][-4:] == ["answer_question_cos", "answer_has_text", "answer_mean_logprob",
                                          "answer_has_logprob"]
    test = data.subset(va)
    offline = deployed_outcomes(art, test, emb[va], answers[va])
    service = build_services(art.catalog, providers=RecordedProviders(test), taxonomy=InMemoryTaxonomy(art.taxonomy),
                             encoder=fake_encoder, verifier=art.verifier, learned=OnnxLearnedRouter(art.directory),
                             policy=InMemoryPolicy(art.dial), verifier_sha256=art.verifier.sha256,
                             embed=encoder.embed_one)
    compared = 0
    for profile, _, i, state, expected in _every_profile_through_the_request_path(service, art, test, offline):
        assert state.decision.answer_model == test.models[expected.rep[i]], (profile, i)
        assert state.spent_usd == pytest.approx(expected.cost[i], abs=1e-12), (profile, i)
        verdicts = [v for a in state.attempts for v in a.verdicts if v.kind == "verifier"]
        assert verdicts and all(v.score is not None for v in verdicts)  # features built, never abstained
        compared += 1
    assert compared == len(art.dial.profiles) * test.n >= 3 * 30


def test_train_with_holdout_reports_every_point_and_model_on_the_held_out_prompts(tmp_path, monkeypatch):
    """``train --holdout`` replays the written artifacts on the prompts it did not train on; with each call's
    latency recorded (as ``collect`` writes it) a point's latency is the sum of its calls' seconds."""
    from tests.support.offline_synth import make_frame

    frame = make_frame(n_per_category=40)
    seconds = {"cheap-a": 1.0, "cheap-b": 1.5, "mid": 2.0, "big": 4.0}
    frame["latency_ms"] = frame["model"].map(seconds) * 1000
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    _fake_embeddings(monkeypatch, tmp_path)
    assert cli.main(["train", "--data", str(path), "--out", str(tmp_path / "run"), "--holdout", "0.3",
                     "--no-progress"]) == 0
    report = json.loads((tmp_path / "run" / "held_out.json").read_text())
    assert report["prompts"] == 36
    alone = {s["model"]: s for s in report["single_models"]}
    assert {m: alone[m]["mean_latency_s"] for m in seconds} == seconds
    held = load_outcomes(path).subset(split_rows(load_outcomes(path).prompt_ids, 0.3, 7)[1])  # train --seed 7
    assert alone["big"]["accuracy"] == round(float(np.nanmean(held.labels.correct[:, held.model_index("big")])), 4)
    art = load_artifacts(tmp_path / "run")
    assert {p["point"] for p in report["points"]} == {p.name for p in art.dial.points}
    for p in report["points"]:  # every prompt runs at least one model and at most all of them
        assert 1.0 <= p["mean_latency_s"] <= sum(seconds.values())
        assert p["accuracy"] is not None and p["cost_per_1k"] > 0
    assert report["strongest_alone"] in seconds
    assert all(name in {p.name for p in art.dial.points} for name in report["points_as_accurate_and_faster"])


def _every_profile_through_the_request_path(service, art, test, offline):
    """Each test prompt asked of ``service`` under every profile of the dial, through the request path:
    (profile, point, row, final state, the offline replay's outcome of that point)."""
    from switchboard.domain.requests import ChatRequest, Message
    from tests.support.builder import complete

    for profile, point in art.dial.profiles.items():
        for i in range(test.n):
            request = ChatRequest(messages=[Message(role="user", content=test.prompts[i])], profile=profile)
            yield profile, point, i, complete(service, request), offline[point]
