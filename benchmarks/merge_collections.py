"""Merge directories written by ``switchboard collect`` into one that ``switchboard train`` reads.

Rows are concatenated in the order the directories are given; where two directories hold the same
(prompt, model) answer or the same (prompt, model, judge) verdict, the first one's row is kept. A directory
whose ``outcomes.parquet`` is missing (a collection still running or interrupted) is read from its
``journal.jsonl``, as ``collect`` itself would write it. The catalogue is the first directory's.

    .venv/bin/python benchmarks/merge_collections.py out/collect/local-all out/collect/arith --out out/collect/local-mix
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from switchboard.offline.collect import Journal, write_parquet

KEYS = {"outcomes.parquet": ["prompt_id", "model"], "judges.parquet": ["prompt_id", "model", "judge"]}


def frames(directory: Path, scratch: Path) -> dict[str, pd.DataFrame]:
    if not (directory / "outcomes.parquet").is_file() and (directory / "journal.jsonl").is_file():
        journal = Journal(directory / "journal.jsonl")
        try:
            write_parquet(journal, scratch)
        finally:
            journal.close()
        directory = scratch
    return {name: pd.read_parquet(directory / name) for name in KEYS}


def merge(directories: list[Path], out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in KEYS}
    for directory in directories:
        with tempfile.TemporaryDirectory() as scratch:
            for name, frame in frames(directory, Path(scratch)).items():
                parts[name].append(frame)
    counts = {}
    for name, keys in KEYS.items():
        columns = list(parts[name][0].columns)  # the first directory's schema
        merged = pd.concat([f[[c for c in columns if c in f.columns]] for f in parts[name]], ignore_index=True)
        merged = merged.drop_duplicates(subset=keys, keep="first")
        merged.to_parquet(out / name, index=False)
        counts[name] = len(merged)
    shutil.copy(directories[0] / "catalog.json", out / "catalog.json")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directories", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    counts = merge(args.directories, args.out)
    print(f"{counts['outcomes.parquet']} answers, {counts['judges.parquet']} verdicts -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
