"""The learning loop, measured: serve traffic, score it, retrain from the traces, and compare the frontier on
held-out traffic before and after.

On recorded outcomes (MMLU-Pro by default; ``../shared/data``), in one run:

1. The categories are split at random: half are *seen* (the first policy, v1, is trained on their prompts
   only), half are *new* - the traffic the deployment has never been trained for. The new categories'
   prompts are split into *traffic* and *held-out*.
2. v1 serves the traffic through the local stack (synthesised state machine, the five handlers, DynamoDB
   traces), with the REPLAY provider answering as every model (each model's recorded answer and cost).
   Each answer is then scored with ``POST /v1/feedback`` - a SIMULATED user: the score is the recorded
   grade of the answer the stack returned, and nothing else about the prompt is revealed.
3. ``switchboard export``'s code turns the traces into rows; ``collect --from-traces``'s code keeps the
   prompts with an answer scored correct (that answer becomes the reference) and runs every catalogue
   model on them (the replay provider again) graded against that reference - never against the dataset's
   own labels.

   With ``--labels reference`` nobody scores anything (a team with only its unlabelled traffic): step 2
   sends no feedback, ``export --all-traces``'s code exports every answer the traffic bought,
   ``collect --from-traces --labels reference``'s code runs the other catalogue models on every traffic
   prompt (reusing the answers the traffic bought), and the traffic is labelled by agreement with the
   panel's majority answer (``offline.reference_labels``, as ``train --labels reference`` does).
4. v2 is trained on the seen prompts plus the collected traffic rows.
5. v1 and v2 are replayed offline (``deployed_outcomes``: the deployed artifacts, every point of their dial)
   on the held-out prompts of the new categories, which neither ever trained on.

Prints the two frontiers and writes them to benchmarks/out/traffic_loop.json (and traffic_loop.png).

Run: .venv/bin/python benchmarks/traffic_loop.py [--traffic 400] [--heldout 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]
DATA = ROOT.parent / "shared" / "data" / "mmlu_pro"


def _frontier(art_dir: Path, data, rows: np.ndarray, embeddings: np.ndarray) -> list[dict]:  # noqa: ANN001
    from switchboard.offline.artifacts import load_artifacts
    from switchboard.offline.evaluation.deployed import deployed_outcomes
    from switchboard.offline.evaluation.metrics import accuracy, cost_per_1k

    art = load_artifacts(art_dir)
    test = data.subset(rows)
    outcomes = deployed_outcomes(art, test, embeddings[rows])
    correct = test.labels.correct
    points = []
    for point in art.dial.points:
        out = outcomes[point.name]
        points.append({"point": point.name, "accuracy": round(accuracy(correct[np.arange(test.n), out.rep]), 4),
                       "cost_per_1k_usd": round(cost_per_1k(out.cost), 5)})
    profiles = {profile: name for profile, name in art.dial.profiles.items()}
    for p in points:
        p["profiles"] = sorted(k for k, v in profiles.items() if v == p["point"])
    return sorted(points, key=lambda p: p["cost_per_1k_usd"])


def _train(data, embeddings: np.ndarray, prices: dict, out: Path, seed: int, dataset: str) -> Path:  # noqa: ANN001
    from switchboard.offline.artifacts import write_artifacts
    from switchboard.offline.fit import TrainConfig, fit_system

    system, _ = fit_system(data, embeddings, prices, TrainConfig(seed=seed), progress=True)
    return write_artifacts(system, out, dataset=dataset)


def _start_stack(v1: Path, data, state_dir: Path):  # noqa: ANN001, ANN202 - RecordedOutcomes, LocalStack
    """The local stack on v1's catalogue and models (as deployed with them packaged); the Policy table is read
    on every request, so a publish takes effect at once (in AWS: within a minute)."""
    from switchboard.adapters.providers.recorded import RecordedProviders
    from switchboard.local.stack import LocalStack, StackOptions

    os.environ["SB_POLICY_TTL_S"] = "0"
    return LocalStack(StackOptions(catalog_path=v1 / "catalog.json", router_artifacts=v1,
                                   providers=RecordedProviders(data), state_dir=state_dir)).start()


def _serve(stack, data, rows: np.ndarray, feedback: bool, desc: str) -> dict:  # noqa: ANN001
    """``rows`` through the stack (model "auto"); with ``feedback``, each answer scored by the SIMULATED user
    (the recorded grade of the answer returned, nothing more). Accuracy is the recorded grade, read after."""
    from tqdm import tqdm

    from switchboard.http.server import api_gateway_event

    index = {m: j for j, m in enumerate(data.models)}
    served, errors, right, spent, releases = 0, Counter(), 0, 0.0, Counter()
    for i in tqdm(rows, desc=desc, unit="prompt"):
        body = {"model": "auto", "messages": [{"role": "user", "content": data.prompts[int(i)]}]}
        result = stack.invoke_router(api_gateway_event(
            "POST", "/v1/chat/completions", {"content-type": "application/json"}, json.dumps(body).encode()))
        reply = json.loads(result.get("body") or "{}")
        if result.get("statusCode") != 200:
            errors[str(result.get("statusCode"))] += 1
            continue
        sb = reply["switchboard"]
        score = float(data.labels.correct[int(i), index[sb["answered_by"]["model"]]])
        if np.isnan(score):
            continue
        if feedback:
            scored = {"trace_id": sb["trace_id"], "score": score}
            stack.invoke_router(api_gateway_event("POST", "/v1/feedback", {"content-type": "application/json"},
                                                  json.dumps(scored).encode()))
        served += 1
        right += int(score >= 1.0)
        spent += float(sb["cost_usd"])
        trace = stack.invoke_router(api_gateway_event("GET", f"/v1/traces/{sb['trace_id']}", {}, b""))
        releases[str(json.loads(trace["body"])["state"]["plan"].get("release"))] += 1  # which models planned it
    return {"served": served, "errors": dict(errors), "accuracy": round(right / max(1, served), 4),
            "cost_per_1k_usd": round(1000 * spent / max(1, served), 5), "releases": dict(releases)}


def _publish(stack, run: Path) -> str:  # noqa: ANN001
    """``switchboard publish``'s code against the stack's tables and artifact bucket; the release version."""
    from switchboard.adapters.encoder import DIM
    from switchboard.adapters.stores.dynamo import DynamoPolicy, DynamoTaxonomy
    from switchboard.adapters.stores.s3_blobs import S3Blobs
    from switchboard.service.publish import publish

    env, dynamodb = stack.environment, stack.aws.client("dynamodb")
    report = publish(run, taxonomy_store=DynamoTaxonomy(env["SB_TAXONOMY_TABLE"], client=dynamodb),
                     policy_store=DynamoPolicy(env["SB_POLICY_TABLE"], client=dynamodb, cache_s=0),
                     blobs=S3Blobs(env["SB_ARTIFACT_BUCKET"], client=stack.aws.client("s3")), embedding_dim=DIM)
    assert report.release is not None
    return report.release


def _retrain(args, data, prices, seen_rows, v1: Path, work: Path, labelled, known):  # noqa: ANN001, ANN202
    """collect's code completes the traffic (every catalogue model, the replay provider), the labels are the
    feedback references or the panel's; v2 is trained on the seen prompts plus the traffic."""
    import pandas as pd

    from switchboard.adapters.providers.recorded import RecordedProviders
    from switchboard.cli.training_cmds import _embed
    from switchboard.domain.catalog import ModelEntry
    from switchboard.offline.collect import collect
    from switchboard.offline.outcomes import load_outcomes

    # the run's catalogue names replay providers (publish refuses those for live traffic; here they are the point)
    catalog = {e.model_id: e for e in (ModelEntry.model_validate(x)
                                       for x in json.loads((v1 / "catalog.json").read_text(encoding="utf-8")))}
    report = collect(catalog=catalog, prompts=labelled, providers=RecordedProviders(data), out_dir=work / "collect",
                     judge_kinds=(), max_tokens=16, progress=True, known=known)
    frame = pd.read_parquet(args.data)
    seen_frame = frame[frame["prompt_id"].isin(set(data.prompt_ids[seen_rows].tolist()))]
    collected = pd.read_parquet(work / "collect" / "outcomes.parquet")
    reference = None
    if args.labels == "reference":
        collected, reference = _label_by_panel(collected, data)
    combined = pd.concat([seen_frame, collected[[c for c in frame.columns if c in collected.columns]]],
                         ignore_index=True)
    combined.to_parquet(work / "v2_data.parquet", index=False)
    v2_data = load_outcomes(work / "v2_data.parquet", name="seen+traffic")
    v2 = _train(v2_data, _embed(v2_data, progress=True), prices, work / "v2", args.seed, "seen + traffic")
    return v2, report, reference


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "dev.parquet")
    parser.add_argument("--prices", type=Path, default=DATA / "models.json")
    parser.add_argument("--traffic", type=int, default=400)
    parser.add_argument("--heldout", type=int, default=1000)
    parser.add_argument("--stack-heldout", type=int, default=200,
                        help="held-out prompts also sent through the stack before and after v2 is published")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--labels", choices=("feedback", "reference"), default="feedback",
                        help="how the traffic is labelled: simulated user feedback, or none at all (agreement with "
                             "the panel's majority answer)")
    parser.add_argument("--work", type=Path, default=None,
                        help="working directory (default: a new temporary one); a v1 already trained there is reused")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "traffic_loop.json")
    args = parser.parse_args()
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")


    from switchboard.cli.training_cmds import _embed, _load
    from switchboard.offline.export import (
        known_answers,
        labelled_prompts,
        local_traces,
        traffic_prompts,
        training_rows,
        unlabelled_rows,
    )

    started = time.time()
    data, prices = _load(args.data, args.prices, progress=True)
    embeddings = _embed(data, progress=True)
    rng = np.random.default_rng(args.seed)
    categories = sorted(set(data.categories.tolist()))
    rng.shuffle(categories)
    seen = set(categories[: len(categories) // 2])
    counts = Counter(data.prompts)  # the replay provider matches a prompt by its text: unique texts only
    seen_rows = np.asarray([i for i in range(data.n) if data.categories[i] in seen], dtype=int)
    new_rows = np.asarray([i for i in range(data.n) if data.categories[i] not in seen and counts[data.prompts[i]] == 1],
                          dtype=int)
    new_rows = new_rows[rng.permutation(len(new_rows))]
    traffic, heldout = np.sort(new_rows[: args.traffic]), np.sort(new_rows[args.traffic: args.traffic + args.heldout])

    work = args.work or Path(tempfile.mkdtemp(prefix="switchboard-loop-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"seen categories {sorted(seen)}; new {sorted(set(categories) - seen)}; "
          f"{len(seen_rows)} seen prompts, {len(traffic)} traffic, {len(heldout)} held out; work in {work}")
    if (work / "v1" / "dial.json").is_file() and (work / "v1" / "split.json").is_file() and json.loads(
            (work / "v1" / "split.json").read_text()) == sorted(seen):
        v1 = work / "v1"  # trained on the same seen categories by an earlier run of this command
    else:
        v1 = _train(data.subset(seen_rows), embeddings[seen_rows], prices, work / "v1", args.seed, "seen categories")
        (v1 / "split.json").write_text(json.dumps(sorted(seen)))
    before = _frontier(v1, data, heldout, embeddings)

    shutil.rmtree(work / "state", ignore_errors=True)  # traces of this run's traffic only
    shutil.rmtree(work / "collect", ignore_errors=True)
    stack = _start_stack(v1, data, work / "state")
    try:
        served = _serve(stack, data, traffic, feedback=args.labels == "feedback", desc="traffic on v1")
        served = {"served": served["served"], "errors": served["errors"], "accuracy_on_traffic": served["accuracy"],
                  "cost_per_1k_usd_on_traffic": served["cost_per_1k_usd"]}
        probe = heldout[: args.stack_heldout]
        stack_before = _serve(stack, data, probe, feedback=False, desc="held out on v1 (stack)")
        traces = local_traces(work / "state")
        if args.labels == "feedback":
            rows = training_rows(traces)
            labelled, known = labelled_prompts(rows), None
        else:
            rows = unlabelled_rows(traces)
            labelled, known = traffic_prompts(rows), known_answers(rows)
        v2, report, reference = _retrain(args, data, prices, seen_rows, v1, work, labelled, known)
        release = _publish(stack, v2)
        stack_after = _serve(stack, data, probe, feedback=False, desc="held out on v2, published (stack)")
    finally:
        stack.stop()
    after = _frontier(v2, data, heldout, embeddings)

    # How good the references from feedback were (read only to report it, never to train)
    truth = {data.prompts[int(i)]: data.labels.reference[int(i)] for i in traffic}  # exported ids are trace ids
    agree = [p.reference == truth.get(p.prompt) for p in labelled if truth.get(p.prompt) is not None
             and args.labels == "feedback"]
    result = {
        "dataset": str(args.data), "seed": args.seed, "seen_categories": sorted(seen),
        "new_categories": sorted(set(categories) - seen), "seen_prompts": int(len(seen_rows)),
        "traffic_prompts": int(len(traffic)), "heldout_prompts": int(len(heldout)),
        "traffic": {**served, "training_rows_exported": len(rows), "prompts_labelled_by_feedback": len(labelled),
                    "collected_outcomes": report.outcomes,
                    "feedback_reference_agrees_with_dataset": round(float(np.mean(agree)), 4) if agree else None,
                    "reference_labels": reference},
        "before": before, "after": after,
        "through_the_stack": {"heldout_prompts": int(len(probe)), "profile": "default (auto)",
                              "before_v1": stack_before, "after_v2_published": {**stack_after, "release": release}},
        "seconds": round(time.time() - started, 1), "labels": args.labels,
        "feedback": "SIMULATED: the recorded grade of the returned answer" if args.labels == "feedback"
        else "none: the traffic is labelled by agreement with the panel's majority answer",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    _plot(result, args.out.with_suffix(".png"))
    print(f"\nheld-out prompts of the new categories ({len(heldout)}), every point of each dial:")
    for name, points in (("before (v1: seen categories)", before), ("after (v2: + traffic)", after)):
        print(f"  {name}")
        for p in points:
            print(f"    {p['point']:22s} accuracy {p['accuracy']:.4f}  cost/1k ${p['cost_per_1k_usd']:.4f}  "
                  f"{','.join(p['profiles'])}")
    print(f"traffic: {json.dumps(result['traffic'])}")
    print(f"written to {args.out} in {result['seconds']:.0f}s")
    return 0


def _label_by_panel(collected, data):  # noqa: ANN001, ANN202 - pandas frame, RecordedOutcomes
    """The collected traffic labelled by agreement with the panel's majority answer; prompts with no majority
    are dropped. The labels' agreement with the dataset's grades is measured for the report only."""
    import tempfile as _tempfile

    from switchboard.offline.outcomes import load_outcomes
    from switchboard.offline.reference_labels import PANEL, label_by_reference

    with _tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traffic.parquet"
        collected.to_parquet(path, index=False)
        traffic = load_outcomes(path, name="traffic")
    labelled, report = label_by_reference(traffic, PANEL)
    label = {(pid, model): float(labelled.labels.correct[i, j])
             for i, pid in enumerate(labelled.prompt_ids) for j, model in enumerate(labelled.models)}
    keys = list(zip(collected["prompt_id"], collected["model"], strict=True))
    out = collected.assign(correct=[label.get(k, np.nan) for k in keys])
    out = out[out["prompt_id"].isin(set(labelled.prompt_ids.tolist()))]
    # measurement only: how often the panel's label matches the dataset's grade of the same answer
    index = {m: j for j, m in enumerate(data.models)}
    row_of = {p: i for i, p in enumerate(data.prompts)}
    pairs = [(c, data.labels.correct[row_of[p], index[m]]) for p, m, c in zip(out["prompt"], out["model"],
             out["correct"], strict=True) if p in row_of and m in index and not np.isnan(c)]
    pairs = [(c, g) for c, g in pairs if not np.isnan(g)]
    report["label_agreement_with_dataset"] = round(float(np.mean([c == g for c, g in pairs])), 4) if pairs else None
    return out, report


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    after = "retrained with scored traffic" if result.get("labels", "feedback") == "feedback" else \
        "retrained with unlabelled traffic (panel labels)"
    for name, key, style in (("before: trained on the seen categories", "before", "o--"),
                             (f"after: {after}", "after", "s-")):
        pts = result[key]
        ax.plot([p["cost_per_1k_usd"] for p in pts], [p["accuracy"] for p in pts], style, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("cost per 1k prompts (USD, log)")
    ax.set_ylabel("accuracy on held-out prompts")
    ax.set_title(f"Learning from traffic: new categories, {result['heldout_prompts']} held-out prompts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
