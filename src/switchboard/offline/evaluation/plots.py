"""Pareto plot of an evaluation: accuracy against cost per 1k prompts (log axis), every strategy, the
frontier marked."""

from __future__ import annotations

from pathlib import Path

from switchboard.offline.evaluation.metrics import pareto_frontier

STYLE = {  # family -> (colour, marker)
    "single": ("#555555", "o"), "oracle": ("#000000", "*"), "random": ("#999999", "x"),
    "knn": ("#1f77b4", "v"), "routellm-mf": ("#17becf", "<"), "routellm-bert": ("#9edae5", ">"),
    "automix-threshold": ("#ff7f0e", "^"), "automix-pomdp": ("#ffbb78", "^"), "frugalgpt": ("#8c564b", "D"),
    "sb-taxonomy": ("#98df8a", "s"), "sb-learned": ("#2ca02c", "s"), "sb-combined": ("#006d2c", "s"),
    "sb-cascade": ("#d62728", "P"),
}


def pareto_plot(results: dict, path: str | Path, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = results["strategies"]
    fig, ax = plt.subplots(figsize=(8.5, 5.6), dpi=100)
    families: dict[str, list[dict]] = {}
    for s in strategies:
        families.setdefault(s["params"].get("family", s["kind"]), []).append(s)
    for family, items in families.items():
        colour, marker = STYLE.get(family, ("#7f7f7f", "."))
        items = sorted(items, key=lambda s: s["cost_per_1k_usd"])
        xs = [max(s["cost_per_1k_usd"], 1e-6) for s in items]
        ys = [s["accuracy"] for s in items]
        line = "-" if family.startswith("sb-") else ("--" if family not in ("single", "oracle", "random") else "")
        ax.plot(xs, ys, marker=marker, linestyle=line or "none", color=colour, label=family,
                markersize=9 if family in ("sb-cascade", "oracle") else 6, linewidth=1.2, alpha=0.9)
        if family == "single":
            for s, x, y in zip(items, xs, ys, strict=True):
                ax.annotate(s["name"].split("/")[-1][:22], (x, y), fontsize=6.5, xytext=(3, -8),
                            textcoords="offset points", color="#444444")
    comparable = [s for s in strategies if s["kind"] != "oracle"]
    front = pareto_frontier([s["cost_per_1k_usd"] for s in comparable], [s["accuracy"] for s in comparable])
    fx = [max(comparable[i]["cost_per_1k_usd"], 1e-6) for i in front]
    fy = [comparable[i]["accuracy"] for i in front]
    ax.step(fx, fy, where="post", color="black", linewidth=0.8, linestyle=":", label="frontier")
    ax.scatter(fx, fy, s=90, facecolors="none", edgecolors="black", linewidths=1.0, zorder=5)
    best = results.get("best_single")
    if best:
        ax.axhline(best["accuracy"], color="#bbbbbb", linewidth=0.7)
        ax.axhline(best["accuracy"] + 0.03, color="#bbbbbb", linewidth=0.7, linestyle="--")
        ax.axvline(best["cost_per_1k_usd"] / 4, color="#dddddd", linewidth=0.7, linestyle="--")
        ax.axvline(best["cost_per_1k_usd"] / 10, color="#dddddd", linewidth=0.7, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel("cost per 1k prompts (USD, log scale)")
    ax.set_ylabel("accuracy")
    low = min(s["accuracy"] for s in strategies if s["kind"] == "single")
    ax.set_ylim(max(0.0, low - 0.05), min(1.0, max(s["accuracy"] for s in strategies) + 0.02))
    ax.set_title(title or f"{results['dataset']}: {results['prompts']} prompts")
    ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
