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
    from switchboard.offline.embeddings import embed_texts, routing_text

    return embed_texts([routing_text(p) for p in data.prompts], progress=progress)


def cmd_train(args: argparse.Namespace) -> int:
    from switchboard.offline.artifacts import write_artifacts
    from switchboard.offline.fit import TrainConfig, fit_system
    from switchboard.offline.outcomes import split_rows

    progress = not args.no_progress
    t0 = time.time()
    data, prices = _load(args.data, args.prices, progress)
    if args.holdout > 0:
        rows, _ = split_rows(data.prompt_ids, args.holdout, args.seed)
        data = data.subset(rows)
    embeddings = _embed(data, progress)
    system, _ = fit_system(data, embeddings, prices, TrainConfig(seed=args.seed), progress=progress)
    out = write_artifacts(system, args.out, dataset=str(args.data))
    print(f"trained on {data.n} prompts x {data.k} models in {time.time() - t0:.0f}s; artifacts in {out}")
    for p in system.points:
        print(f"  {p.name:18s} train accuracy {p.train_accuracy:.3f}  cost/1k ${p.train_cost_per_1k:.3f}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from switchboard.offline.evaluation.evaluate import evaluate, write_results
    from switchboard.offline.evaluation.plots import pareto_plot
    from switchboard.offline.fit import TrainConfig
    from switchboard.offline.outcomes import split_rows

    progress = not args.no_progress
    t0 = time.time()
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
    e_train = _embed(train, progress)
    e_test = _embed(test, progress)
    name = args.name or Path(args.data).parent.name or Path(args.data).stem
    out = Path(args.out)
    results, _ = evaluate(train, test, e_train, e_test, prices, name, TrainConfig(seed=args.model_seed),
                          seed=args.seed, progress=progress, artifacts_dir=out / "artifacts")
    results["split"] = split_note
    if args.via_stack:
        from switchboard.offline.evaluation.via_stack import via_stack

        results["via_stack"] = via_stack(out / "artifacts", test, e_test, args.via_stack, seed=args.seed,
                                         progress=progress)
    results["seconds_total"] = round(time.time() - t0, 1)
    path = write_results(results, out)
    pareto_plot(results, out / "pareto.png")
    _print_summary(results)
    print(f"wrote {path} and {out / 'pareto.png'} ({results['seconds_total']:.0f}s)")
    return 0


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
    for row in results.get("via_stack", []):
        print(f"via stack {row['profile']:9s} ({row['point']}, {row['prompts']} prompts): offline acc "
              f"{row['offline']['accuracy']:.3f} ${row['offline']['cost_per_1k_usd']:.3f}/1k, stack acc "
              f"{row['stack']['accuracy']:.3f} ${row['stack']['cost_per_1k_usd']:.3f}/1k, same decisions "
              f"{row['same_decisions']:.3f}, errors {row['errors']}")


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
    ev.add_argument("--no-progress", action="store_true")
    ev.set_defaults(func=_reporting_data_errors(cmd_eval))


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
