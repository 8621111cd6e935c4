"""What ``switchboard train`` reports of the judges: the policy fitted on the training prompts, measured on
the held-out ones (each role, each model alone, the cascade at its bar and at every bar, per region), and
the plot of accuracy against latency."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from switchboard.domain.catalog import ModelEntry
from switchboard.domain.judging import JudgePolicy
from switchboard.offline.judge_data import Collected
from switchboard.offline.judge_fit import ACCURACY_SLACK, BARS, choose_policy, fit_regions
from switchboard.offline.judge_replay import replay
from switchboard.offline.judge_stats import role_table, single_model


def measure(data: Collected, train: Sequence[str], test: Sequence[str],
            catalog: dict[str, ModelEntry] | None = None, embed: Any = None) -> tuple[JudgePolicy, dict[str, Any]]:
    """Fit the policy on ``train``; report roles, single models and the cascade curve on ``test`` - in all,
    and per region when ``embed`` (texts -> unit routing embeddings) lets the prompts be placed."""
    regions = fit_regions(data, train, embed) if embed is not None else []
    policy, tried = choose_policy(data, train, catalog, regions=regions)
    scopes: dict[str, list[str]] = {}
    for p in test:
        scopes.setdefault(data.region.get(p) or "outside" if regions else "all", []).append(p)
    report: dict[str, Any] = {
        "models": data.models, "train_prompts": len(train), "test_prompts": len(test),
        "choice": {"judges": policy.judges, "bar": policy.threshold,
                   "tiers": [m for m in data.models if m not in policy.skip], "skip": policy.skip,
                   "regions": {r.name: {"judges": r.judges, "bar": r.threshold, "skip": r.skip,
                                        "calibrated_for": sorted(r.calibration), "min_similarity": r.min_similarity,
                                        **r.measured} for r in policy.regions},
                   "rule": f"per region of prompts (and outside them): highest training accuracy (every judge "
                           f"set of one or two roles, bar, and the cascade or the most accurate model alone), then "
                           f"lowest training latency within one standard error of the paired difference (at least "
                           f"{ACCURACY_SLACK}) of it"},
        "judge_sets_tried": tried,
        "roles": role_table(data, test),
        "single_models": [single_model(data, test, m) for m in data.models],
        "cascade": replay(data, test, data.models, policy, catalog),
        "curve": [replay(data, test, data.models, policy, catalog, bar=b) for b in BARS],
        "regions": {name: {"prompts": len(ps), "roles": role_table(data, ps),
                           "single_models": [single_model(data, ps, m) for m in data.models],
                           "cascade": replay(data, ps, data.models, policy, catalog)}
                    for name, ps in sorted(scopes.items())} if regions else {},
    }
    policy = policy.model_copy(update={"measured": {
        **policy.measured, "test_prompts": len(test), "cascade_accuracy": report["cascade"]["accuracy"],
        "cascade_mean_latency_ms": report["cascade"]["mean_latency_ms"],
        "roles_auroc": {r["role"]: r["auroc"] for r in report["roles"]}}})
    return policy, _public(report)


def _public(value: Any) -> Any:
    """``value`` without the private per-prompt keys (``_correct``) the choice used."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def judges_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Accuracy against mean latency: each model alone, the cascade at every bar, the chosen bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    curve = report["curve"]
    ax.plot([c["mean_latency_ms"] / 1000 for c in curve], [c["accuracy"] for c in curve], "-o", color="#d62728",
            markersize=4, label=f"cascade {' -> '.join(report['models'])}, judges {'+'.join(report['choice']['judges'])}")
    for c in curve[:: max(1, len(curve) // 6)]:
        ax.annotate(f"bar {c['bar']:.2f}", (c["mean_latency_ms"] / 1000, c["accuracy"]), fontsize=7,
                    xytext=(4, -9), textcoords="offset points")
    chosen = report["cascade"]
    bars = chosen["bar"] if isinstance(chosen["bar"], list) else [chosen["bar"]]
    ax.plot([chosen["mean_latency_ms"] / 1000], [chosen["accuracy"]], "P", color="#7f0000", markersize=12,
            label="chosen bar " + ", ".join(f"{b:.2f}" for b in bars) + (" (per region)" if len(bars) > 1 else ""))
    for s in report["single_models"]:
        ax.plot([s["mean_latency_ms"] / 1000], [s["accuracy"]], "o", color="#555555", markersize=8)
        ax.annotate(s["model"], (s["mean_latency_ms"] / 1000, s["accuracy"]), fontsize=8, xytext=(5, 4),
                    textcoords="offset points")
    ax.set_xlabel("mean latency per prompt (s, this machine, calls in sequence)")
    ax.set_ylabel(f"accuracy on {report['test_prompts']} held-out prompts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
