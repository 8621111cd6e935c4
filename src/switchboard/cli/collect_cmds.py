"""``switchboard collect`` and ``switchboard export``: outcomes of real models on labelled prompts, and
production traces as training rows. ``register`` adds them to the main parser."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_collect(args: argparse.Namespace) -> int:
    from switchboard.adapters.providers.registry import ProviderRegistry
    from switchboard.domain.judging import JUDGE_ROLES
    from switchboard.offline.collect import CollectError, collect, load_prompts, sample_prompts
    from switchboard.service.publish import PublishError, read_catalog

    try:
        entries = read_catalog(args.catalog)
        known = None
        if args.from_traces is not None:
            from switchboard.offline.export import (
                ExportError,
                known_answers,
                labelled_prompts,
                read_rows,
                traffic_prompts,
            )

            try:
                rows = read_rows(args.from_traces)
            except ExportError as exc:
                raise CollectError(str(exc)) from exc
            if args.labels == "reference":  # every traffic prompt, ungraded; train labels them by a reference
                prompts, known = traffic_prompts(rows)[: args.limit], known_answers(rows)
            else:
                prompts = labelled_prompts(rows)[: args.limit]
            if not prompts:
                raise CollectError(f"{args.from_traces}: no prompt has an answer scored correct (feedback 1.0) "
                                   "to serve as its reference; with no feedback, collect with --labels reference"
                                   if args.labels != "reference" else f"{args.from_traces}: no traffic prompts")
        else:
            prompts = load_prompts(args.prompts, limit=args.limit)
        if args.sample:
            prompts = sample_prompts(prompts, args.sample, args.seed)
        if args.first is not None:
            prompts = prompts[:args.first]
        kinds = [k for k in args.judges.split(",") if k] if args.judges else list(JUDGE_ROLES)
        bad = sorted(set(kinds) - set(JUDGE_ROLES))
        if bad:
            raise CollectError(f"unknown judge kind(s) {bad}; known: {list(JUDGE_ROLES)}")
        catalog = {e.model_id: e for e in entries}
        models = args.models.split(",") if args.models else None
        if not args.no_pull:
            from switchboard.adapters.providers.gguf_store import ensure_model

            for entry in entries:
                if entry.provider == "local_gguf" and not entry.provider_model.endswith(".gguf") and (
                        models is None or entry.model_id in models):
                    ensure_model(entry.provider_model)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "catalog.json").write_text(json.dumps([e.model_dump(mode="json", exclude_none=True)
                                                          for e in entries], indent=1), encoding="utf-8")
        report = collect(catalog=catalog, prompts=prompts, providers=ProviderRegistry(), out_dir=args.out,
                         models=models, judge_kinds=kinds, max_tokens=args.max_tokens,
                         max_cost_usd=args.max_cost_usd, concurrency=args.concurrency,
                         progress=not args.no_progress, known=known)
    except (CollectError, PublishError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{report.outcomes} outcomes and {report.judges} judge verdicts for {report.prompts} prompts x "
          f"{len(report.models)} models in {args.out} ({report.new_calls} new calls, ${report.spent_usd:.6f} "
          f"spent in all, {report.seconds:.0f}s)")
    if report.failures:
        print(f"warning: {report.failures} calls failed; a rerun retries them", file=sys.stderr)
    if report.stopped_for_budget:
        print(f"stopped at --max-cost-usd {args.max_cost_usd}: a rerun with a larger cap continues",
              file=sys.stderr)
        return 3
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from switchboard.offline.export import (
        ExportError,
        local_traces,
        summary,
        table_traces,
        training_rows,
        unlabelled_rows,
        write_rows,
    )

    try:
        if args.state_dir is not None:
            traces = local_traces(args.state_dir)
        else:
            import boto3

            table = args.traces_table
            if table is None:
                from switchboard.service.publish import PublishError, tables_from_stack

                cloudformation = boto3.client("cloudformation", region_name=args.region)
                try:
                    table = tables_from_stack(args.stack, cloudformation)["traces"]
                except (PublishError, KeyError) as exc:
                    raise ExportError(f"no traces table from stack {args.stack}: {exc}") from exc
            client = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
            traces = table_traces(table, client)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = training_rows(traces) + (unlabelled_rows(traces) if args.all_traces else [])
    path = write_rows(rows, args.out)
    info = summary(traces, rows)
    print(f"{info['traces']} traces, {info['with_feedback']} with feedback: {info['rows']} training rows "
          f"({', '.join(info['models']) or 'no models'}) in {path}")
    return 0


def register(subparsers) -> None:  # noqa: ANN001 - argparse's private _SubParsersAction
    register_collect(subparsers)

    ex = subparsers.add_parser("export", help="traces with feedback (POST /v1/feedback) as training rows for "
                                              "`switchboard train`")
    source = ex.add_mutually_exclusive_group()
    source.add_argument("--state-dir", type=Path, default=None,
                        help="the local stack's state directory (default source: ~/.cache/switchboard/state)")
    source.add_argument("--stack", default=None, help="deployed stack whose outputs name the traces table")
    source.add_argument("--traces-table", default=None, help="traces table name")
    ex.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint (e.g. DynamoDB Local)")
    ex.add_argument("--region", default=None)
    ex.add_argument("--out", type=Path, required=True, help="Parquet file of training rows")
    ex.add_argument("--all-traces", action="store_true",
                    help="also every answer of the traces nobody scored, unlabelled (for `collect --from-traces "
                         "--labels reference`)")
    ex.set_defaults(func=_default_export_source(cmd_export))


def register_collect(subparsers) -> None:  # noqa: ANN001
    from switchboard.domain.judging import JUDGE_ROLES

    co = subparsers.add_parser("collect", help="run a catalogue's models (and the production judges) on "
                                               "labelled prompts; write outcomes for train and eval")
    co.add_argument("--catalog", type=Path, required=True, help="model catalogue JSON (real providers)")
    source = co.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompts", type=Path,
                        help="JSON lines of {prompt_id, prompt, reference, category, grader}")
    source.add_argument("--from-traces", type=Path, default=None,
                        help="rows of `switchboard export`: traffic prompts whose answer was scored correct, "
                             "with that answer as the reference")
    co.add_argument("--labels", choices=("feedback", "reference"), default="feedback",
                    help="with --from-traces: grade against answers scored correct (feedback), or collect every "
                         "traffic prompt ungraded - the answers a trace bought reused, not paid again - for "
                         "`train --labels reference` to label by a reference")
    co.add_argument("--out", type=Path, required=True,
                    help="directory: journal.jsonl (resumable), outcomes.parquet, judges.parquet")
    co.add_argument("--limit", type=int, default=None, help="first N prompts only")
    co.add_argument("--sample", type=int, default=None, help="N prompts drawn at random (seeded by --seed)")
    co.add_argument("--first", type=int, default=None,
                    help="only the first N of the selected prompts, in order: grow N on a rerun to collect more "
                         "of the same sample")
    co.add_argument("--seed", type=int, default=7)
    co.add_argument("--models", default=None, help="comma-separated model ids (default: the whole catalogue)")
    co.add_argument("--judges", default=",".join(JUDGE_ROLES),
                    help=f"comma-separated judge kinds to record (default: all of {','.join(JUDGE_ROLES)}; "
                         "'' for none)")
    co.add_argument("--max-tokens", type=int, default=16, help="answer length (default 16: option letters)")
    co.add_argument("--max-cost-usd", type=float, default=None,
                    help="never spend more than this in all (runs so far included)")
    co.add_argument("--concurrency", type=int, default=1, help="calls in flight (remote providers)")
    co.add_argument("--no-pull", action="store_true", help="do not fetch missing local models")
    co.add_argument("--no-progress", action="store_true")
    co.set_defaults(func=cmd_collect)


def _default_export_source(command):  # noqa: ANN001, ANN202
    def run(args: argparse.Namespace) -> int:
        if args.state_dir is None and args.stack is None and args.traces_table is None:
            from switchboard.local.stack import default_state_dir

            args.state_dir = default_state_dir()
        return command(args)
    return run
