"""``switchboard train`` and ``switchboard eval``: the offline commands (they need the offline extra:
pandas, scikit-learn, onnx). ``register`` adds them to the main parser."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _load(path: Path, prices_path: Path | None, progress: bool):  # noqa: ANN202
    from switchboard.offline.outcomes import infer_prices, load_outcomes, load_prices

    data = load_outcomes(path, name=path.parent.name if path.parent.name else path.stem, progress=progress)
    prices = load_prices(prices_path)
    if not prices or any(m not in prices for m in data.models):
        inferred = infer_prices(data)
        prices = {m: prices.get(m, inferred[m]) for m in data.models}
    return data, prices


def _embed(data, progress: bool) -> np.ndarray:  # noqa: ANN001
    from switchboard.offline.embeddings import embed_prompts

    return embed_prompts(data.prompts, progress=progress)


def _embed_answers(data, progress: bool) -> np.ndarray:  # noqa: ANN001 - RecordedOutcomes
    """The recorded answers' embeddings (cached on disk like the prompts'), for the verifier's answer features."""
    from switchboard.offline.answer_signals import embed_answers

    return embed_answers(data.responses, progress=progress)


def _answer_vectors(data, args: argparse.Namespace, progress: bool) -> np.ndarray | None:  # noqa: ANN001
    """The answers' embeddings when the verifier may read them (``--answer-features`` other than none/logprob)."""
    if args.answer_features in ("none", "logprob"):
        return None
    return _embed_answers(data, progress)


def cmd_train(args: argparse.Namespace) -> int:
    from switchboard.offline.artifacts import write_artifacts
    from switchboard.offline.fit import TrainConfig, fit_system
    from switchboard.offline.outcomes import split_rows

    progress = not args.no_progress
    t0 = time.time()
    if (args.data.parent / "judges.parquet").is_file():
        _train_judges(args)
    data, prices = _load(args.data, args.prices, progress)
    test = None
    if args.holdout > 0:
        rows, held = split_rows(data.prompt_ids, args.holdout, args.seed)
        data, test = data.subset(rows), data.subset(held)
    data, labels = _labelled(data, args)
    embeddings = _embed(data, progress)
    system, _ = fit_system(data, embeddings, prices, TrainConfig(seed=args.seed, answer_features=args.answer_features),
                           progress=progress, answer_vectors=_answer_vectors(data, args, progress))
    if args.slow_classifier is not None:
        _use_slow_classifier(system, args.slow_classifier)
    out = write_artifacts(system, args.out, dataset=str(args.data))
    (out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
    print(f"trained on {data.n} prompts x {data.k} models in {time.time() - t0:.0f}s; artifacts in {out}")
    for p in system.points:
        named = ", ".join(sorted(k for k, v in system.profiles.items() if v == p.name))
        cv = (f"  2-fold estimate {p.cv_accuracy:.3f} at ${p.cv_cost_per_1k:.3f}" if p.cv_accuracy is not None
              and p.cv_cost_per_1k is not None else "")
        print(f"  {p.name:18s} train accuracy {p.train_accuracy:.3f}  cost/1k ${p.train_cost_per_1k:.3f}{cv}"
              + (f"  ({named})" if named else ""))
    print(f"  verifier: answer features {system.verifier.answer_features.groups() or 'none'} "
          f"({json.dumps((system.stats.get('verifier') or {}).get('oof_auroc'))} out-of-fold AUROC on training prompts)")
    if test is not None:
        _report_held_out(out, test, progress, args)
    return 0


def _use_slow_classifier(system, path: Path) -> None:  # noqa: ANN001 - offline.fit.System
    """The slow classifier's gate measured by ``benchmarks/slow_classifier.py`` (its model, weight and
    margin) into the run's four-axis taxonomy; its label sets must be the run's."""
    from switchboard.offline.outcomes import DataError

    try:
        gate = json.loads(path.read_text(encoding="utf-8"))
        lam, margin, model = float(gate["lam"]), float(gate["margin"]), str(gate["slow_model"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a slow-classifier gate (benchmarks/slow_classifier.py writes one): {exc}") from exc
    if system.axes is None or gate.get("classes") != system.axes.classes:
        raise DataError(f"{path} was measured on other label sets than this run's: measure it on this run's heads")
    system.axes = system.axes.model_copy(update={"lam": lam, "margin": margin, "slow_model": model})


def _report_held_out(out: Path, test, progress: bool, args: argparse.Namespace) -> None:  # noqa: ANN001 - RecordedOutcomes
    """The trained dial's points and each model alone on the held-out prompts (``held_out.json``)."""
    from switchboard.offline.artifacts import load_artifacts
    from switchboard.offline.evaluation.deployed import held_out_points

    art = load_artifacts(out)
    answers = _embed_answers(test, progress) if art.verifier.answer_features.embedding is not None else None
    report = held_out_points(art, test, _embed(test, progress), answers)
    (Path(out) / "held_out.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"on {report['prompts']} held-out prompts (the deployed artifacts, replayed):")

    def line(name: str, r: dict) -> str:
        seconds = f"  mean {r['mean_latency_s']:.2f}s" if r["mean_latency_s"] is not None else ""
        return f"  {name:28s} acc {r['accuracy']:.3f}  cost/1k ${r['cost_per_1k']:.4f}{seconds}"

    for r in report["single_models"]:
        print(line(f"{r['model']} alone", r))
    for r in report["points"]:
        print(line(r["point"] + (f" ({', '.join(r['profiles'])})" if r["profiles"] else ""), r))
    faster = report["points_as_accurate_and_faster"]
    if faster is not None:
        print(f"  as accurate as {report['strongest_alone']} alone and faster: {faster or 'none'}")
    print(f"  wrote {Path(out) / 'held_out.json'}")


def _train_judges(args: argparse.Namespace) -> None:
    """Collected verdicts beside the outcomes (``switchboard collect``): fit the judge policy on the
    training prompts, report on the held-out ones (``--holdout``)."""
    from switchboard.offline.judge_data import Collected
    from switchboard.offline.judge_fit import MIN_JUDGE_AUROC
    from switchboard.offline.judge_report import judges_plot, measure
    from switchboard.offline.outcomes import split_rows
    from switchboard.service.publish import read_catalog

    directory = args.data.parent
    catalog_path = directory / "catalog.json"
    catalog = {e.model_id: e for e in read_catalog(catalog_path)} if catalog_path.is_file() else None
    data = Collected.read(directory, catalog)
    ids = np.asarray(data.prompt_ids, dtype=object)
    if args.holdout > 0:
        tr, te = split_rows(list(data.prompt_ids), args.holdout, args.seed)
        train_ids, test_ids = [str(i) for i in ids[tr]], [str(i) for i in ids[te]]
    else:
        train_ids, test_ids = list(data.prompt_ids), list(data.prompt_ids)
    from switchboard.offline.embeddings import embed_texts

    def embed(texts: list[str]) -> np.ndarray:  # routing texts -> the router's embeddings (cached on disk)
        return embed_texts(texts, progress=not args.no_progress)

    policy, report = measure(data, train_ids, test_ids, catalog, embed=embed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "judges.json").write_text(policy.model_dump_json(indent=1), encoding="utf-8")
    (out / "judges_report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    judges_plot(report, out / "judges.png")
    where = "held-out" if args.holdout > 0 else "training (no --holdout: not a measurement)"
    calibrated = (f"calibrated for {sorted(policy.calibration)}" if policy.calibration else
                  "calibrated for no model: on the training prompts no judge set separated right from wrong "
                  f"answers (AUROC of the combined score {policy.measured.get('train_auroc')}, needs "
                  f"{MIN_JUDGE_AUROC}); its judges only decide escalation and no answer is verified")
    if policy.regions:
        calibrated = "per region of prompts: " + "; ".join(
            f"{r.name} ({'+'.join(r.judges)} at bar {r.threshold:.2f}, calibrated for {sorted(r.calibration) or 'no model'}"
            + (f", skips {r.skip}" if r.skip else "") + ")" for r in policy.regions) + (
            f"; elsewhere uncalibrated at bar {policy.threshold:.2f}")
    print(f"judges: {'+'.join(policy.judges)} at bar {policy.threshold:.2f}, {calibrated}; "
          f"on {len(test_ids)} {where} prompts:")
    for r in report["roles"]:
        print(f"  judge {r['role']:14s} AUROC {r['auroc']}  abstained {r['abstained']:.3f}  "
              f"p50 {r['p50_latency_ms'] / 1000:.2f}s")
    for m in report["single_models"]:
        print(f"  {m['model']:24s} alone   acc {m['accuracy']:.3f}  mean {m['mean_latency_ms'] / 1000:.2f}s  "
              f"${m['mean_cost_usd'] * 1000:.4f}/1k")
    c = report["cascade"]
    print(f"  cascade {' -> '.join(c['tiers'])}: acc {c['accuracy']:.3f}  mean {c['mean_latency_ms'] / 1000:.2f}s  "
          f"${c['mean_cost_usd'] * 1000:.4f}/1k  verified {c['verified']:.2f}"
          + (f" (right {c['verified_accuracy']:.2f})" if c["verified_accuracy"] is not None else "")
          + f"  escalated {c['escalated']:.2f}")
    for name, r in report["regions"].items():
        singles = "  ".join(f"{m['model']} {m['accuracy']:.3f} {m['mean_latency_ms'] / 1000:.2f}s"
                            for m in r["single_models"])
        rc = r["cascade"]
        print(f"  region {name} ({r['prompts']} prompts): {singles}; cascade {' -> '.join(rc['tiers'])} "
              f"{rc['accuracy']:.3f} {rc['mean_latency_ms'] / 1000:.2f}s verified {rc['verified']:.2f}"
              + (f" (right {rc['verified_accuracy']:.2f})" if rc["verified_accuracy"] is not None else ""))
    print(f"  wrote {out / 'judges.json'}, judges_report.json, judges.png")


def _labelled(data, args: argparse.Namespace):  # noqa: ANN001, ANN202 - RecordedOutcomes
    """The training data with the labels ``--labels`` asks for, and what they are: the data's own (gold),
    or agreement with a reference (``offline.reference_labels``)."""
    if args.labels == "gold":
        return data, {"label_source": "gold"}
    from switchboard.offline.reference_labels import default_reference, label_by_reference

    reference = args.reference or default_reference(data)
    data, report = label_by_reference(data, reference)
    agreement = report["label_agreement_with_gold"]
    print(f"labels by reference ({reference}): {report['labelled_prompts']} of {report['prompts']} prompts labelled"
          + (f"; where the data has gold, they agree with it on {agreement:.1%} of answers" if agreement else ""))
    return data, {"label_source": "reference", **report}


def cmd_eval(args: argparse.Namespace) -> int:
    from switchboard.offline.evaluation.evaluate import evaluate
    from switchboard.offline.evaluation.plots import pareto_plot
    from switchboard.offline.evaluation.results import write_results
    from switchboard.offline.fit import TrainConfig
    from switchboard.offline.outcomes import split_rows

    progress = not args.no_progress
    t0 = time.time()
    if args.compound and not args.decomposer_measurement.exists():
        from switchboard.offline.outcomes import DataError

        raise DataError(f"{args.decomposer_measurement}: no decomposer measurement (run benchmarks/decomposer.py, "
                        "or pass --decomposer-measurement)")
    same = Path(args.train).resolve() == Path(args.data).resolve()
    train, prices = _load(args.train, args.prices, progress)
    if same:
        tr, va = split_rows(train.prompt_ids, args.split, args.seed)
        test = train.subset(va)
        train = train.subset(tr)
        split_note = f"validation split {args.split:g} of {args.data} by prompt_id, seed {args.seed}"
    else:
        test, _ = _load(args.data, args.prices, progress)
        split_note = f"trained on {args.train}, evaluated on {args.data}"
    train, labels = _labelled(train, args)
    e_train = _embed(train, progress)
    e_test = _embed(test, progress)
    a_train, a_test = _answer_vectors(train, args, progress), _answer_vectors(test, args, progress)
    name = args.name or Path(args.data).parent.name or Path(args.data).stem
    out = Path(args.out)
    results, _ = evaluate(train, test, e_train, e_test, prices, name,
                          TrainConfig(seed=args.model_seed, answer_features=args.answer_features),
                          seed=args.seed, progress=progress, artifacts_dir=out / "artifacts", a_train=a_train,
                          a_test=a_test)
    results["split"] = split_note
    results["label_source"] = labels["label_source"]
    if labels["label_source"] == "reference":
        results["reference"] = {k: v for k, v in labels.items() if k != "label_source"}
    if args.via_stack:
        from switchboard.offline.evaluation.via_stack import via_stack

        results["via_stack"] = via_stack(out / "artifacts", test, e_test, args.via_stack, seed=args.seed,
                                         progress=progress, a_test=a_test)
    if args.compound:
        results["compound"] = _compound(args, out / "artifacts", test, e_test, progress, a_test)
    results["seconds_total"] = round(time.time() - t0, 1)
    path = write_results(results, out)
    pareto_plot(results, out / "pareto.png")
    _print_summary(results)
    print(f"wrote {path} and {out / 'pareto.png'} ({results['seconds_total']:.0f}s)")
    return 0


def _compound(args: argparse.Namespace, artifacts: Path, test, e_test: np.ndarray, progress: bool,  # noqa: ANN001
              a_test: np.ndarray | None = None) -> dict:
    """``--compound N``: whole against decomposed compound requests (``evaluation.compound``), and with
    ``--via-stack`` the decomposed ones replayed through the local stack's Map over parts. ``a_test``: the
    test answers' embeddings, when the verifier reads them (the whole compounds' answers are embedded too)."""
    from switchboard.offline.artifacts import load_artifacts
    from switchboard.offline.embeddings import embed_prompts
    from switchboard.offline.evaluation.compound import (
        SimulatedDecomposer,
        compound_outcomes,
        compound_replay,
        compounds_for,
    )

    compounds = compounds_for(test, args.compound, args.seed)
    e_compound = embed_prompts([c.text for c in compounds], progress=progress)
    art = load_artifacts(artifacts)
    a_compound = (_embed_answers(compound_outcomes(test, compounds), progress)
                  if art.verifier.answer_features.embedding is not None else None)
    report = compound_replay(art, test, e_test, compounds, e_compound,
                             SimulatedDecomposer.measured(args.decomposer_measurement), seed=args.seed,
                             a_test=a_test, a_compound=a_compound)
    if args.via_stack:
        from switchboard.offline.evaluation.via_stack import via_stack_compound

        report["via_stack"] = via_stack_compound(artifacts, test, e_test, compounds[: args.via_stack],
                                                 progress=progress, a_test=a_test)
    return report


def _print_summary(results: dict) -> None:
    best = results["best_single"]
    print(f"{results['dataset']}: {results['prompts']} prompts; best single {best['name']} "
          f"{best['accuracy']:.3f} at ${best['cost_per_1k_usd']:.3f}/1k")
    rows = [s for s in results["strategies"] if s["kind"] in ("oracle", "switchboard") or s["params"].get("on_frontier")]
    for s in rows:
        esc = "" if s["escalation_rate"] is None else f" esc {s['escalation_rate']:.2f}"
        print(f"  {s['name'][:34]:34s} {s['kind']:11s} acc {s['accuracy']:.3f}  ${s['cost_per_1k_usd']:.3f}/1k{esc}")
    print("AIQ: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(results["aiq"].items(), key=lambda kv: -kv[1])))
    print("bars: " + json.dumps({k: v.get("met") for k, v in results["bars"].items()}))
    verifier = results.get("verifier") or {}
    held = verifier.get("held_out_auroc") or {}
    print(f"verifier: answer features {verifier.get('answer_features') or 'none'}; held-out AUROC "
          + ", ".join(f"{k.replace('_', ' ')} {v['all']:.4f} ({'+'.join(v['answer_features']) or 'agreement only'})"
                      for k, v in held.items() if v))
    for row in results.get("via_stack", []):
        print(f"via stack {row['profile']:9s} ({row['point']}, {row['prompts']} prompts): offline acc "
              f"{row['offline']['accuracy']:.3f} ${row['offline']['cost_per_1k_usd']:.3f}/1k, stack acc "
              f"{row['stack']['accuracy']:.3f} ${row['stack']['cost_per_1k_usd']:.3f}/1k, same decisions "
              f"{row['same_decisions']:.3f}, errors {row['errors']}")
    if "compound" in results:
        c = results["compound"]
        print(f"compound ({c['prompts']} prompts, point {c['point']}): whole acc {c['whole']['accuracy']:.3f} "
              f"${c['whole']['cost_per_1k_usd']:.3f}/1k, decomposed acc {c['decomposed']['accuracy']:.3f} "
              f"${c['decomposed']['cost_per_1k_usd']:.3f}/1k (decomposer error {c['decomposer']['error']:g}); "
              f"detector recall {c['detector']['recall']:.3f} precision {c['detector']['precision']:.3f}")


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private _SubParsersAction
    train = subparsers.add_parser("train", help="train taxonomy, learned router, verifier and the dial "
                                                "from recorded outcomes (Parquet)")
    train.add_argument("--data", type=Path, required=True, help="recorded outcomes, one row per (prompt, model)")
    train.add_argument("--prices", type=Path, default=None,
                       help="models.json price table (default: fitted to the recorded costs)")
    train.add_argument("--out", type=Path, required=True, help="artifact directory")
    train.add_argument("--holdout", type=float, default=0.0,
                       help="leave this share of prompts out (the validation split of `eval`)")
    train.add_argument("--seed", type=int, default=7)
    _add_label_options(train)
    _add_verifier_options(train)
    train.add_argument("--slow-classifier", type=Path, default=None,
                       help="the four-axis taxonomy's slow classifier gate (benchmarks/slow_classifier.py's JSON: "
                            "model, weight, margin); without it the fast classifier labels alone")
    train.add_argument("--no-progress", action="store_true")
    train.set_defaults(func=_reporting_data_errors(cmd_train))

    ev = subparsers.add_parser("eval", help="train on --train, replay every strategy on --data, write "
                                            "results.json and pareto.png")
    ev.add_argument("--train", type=Path, required=True)
    ev.add_argument("--data", type=Path, required=True,
                    help="prompts to evaluate on; when it is the --train file, its validation split is used")
    ev.add_argument("--prices", type=Path, default=None)
    ev.add_argument("--out", type=Path, required=True)
    ev.add_argument("--split", type=float, default=0.3, help="validation share when --train == --data")
    ev.add_argument("--seed", type=int, default=7, help="split seed (and the random baseline's)")
    ev.add_argument("--model-seed", type=int, default=0, help="seed of the trained models")
    ev.add_argument("--name", default=None, help="dataset name in results.json")
    ev.add_argument("--via-stack", type=int, default=0, metavar="N",
                    help="also replay N evaluated prompts per profile through the local stack (the synthesised "
                         "state machine and handlers, recorded answers) and compare with the offline replay")
    ev.add_argument("--compound", type=int, default=0, metavar="N",
                    help="also build N compound requests (2-3 evaluated prompts joined) and compare answering "
                         "them whole with decomposing them (with --via-stack: through the local stack too)")
    ev.add_argument("--decomposer-measurement", type=Path, default=Path("benchmarks/out/decomposer.json"),
                    help="benchmarks/decomposer.py's measurement of the decomposer's error on real models, "
                         "the rate at which --compound corrupts the joins' boundaries")
    _add_label_options(ev)
    _add_verifier_options(ev)
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=_reporting_data_errors(cmd_eval))


def _add_label_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", choices=("gold", "reference"), default="gold",
                        help="what to train on: the data's graded labels, or agreement with a reference's answer "
                             "(for traffic nobody graded; every figure is still scored on gold where it exists)")
    parser.add_argument("--reference", default=None,
                        help="with --labels reference: 'panel' (the majority answer of the models) or a model id "
                             "(default: the dearest model of the data)")


def _add_verifier_options(parser: argparse.ArgumentParser) -> None:
    from switchboard.offline.verifier_choice import MODES

    parser.add_argument("--answer-features", choices=MODES, default="none",
                        help="what the verifier reads of the answers themselves: none (the default: the agreement "
                             "features only), auto (the answer embedding and token log-probability, kept only "
                             "where they beat the agreement features on held-out folds of the training prompts; "
                             "embeds every recorded answer once, cached), or one group forced (to measure it)")


def _reporting_data_errors(command):  # noqa: ANN001, ANN202
    """Bad input files end the command with ``error: <what and why>`` and exit status 2, not a traceback."""
    def run(args: argparse.Namespace) -> int:
        from switchboard.offline.outcomes import DataError

        try:
            return command(args)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return run
