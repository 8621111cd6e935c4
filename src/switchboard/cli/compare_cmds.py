"""``switchboard compare``: the shadow policy against the live one, over the traces (``offline.shadow_compare``)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

VerifierFor = Callable[[str], Any]


def _catalog_file(path: Path) -> dict[str, Any]:
    from switchboard.domain.catalog import ModelEntry

    entries = [ModelEntry.model_validate(e) for e in json.loads(path.read_text(encoding="utf-8"))]
    return {e.model_id: e for e in entries}


def _local(args: argparse.Namespace) -> tuple[list, dict[str, Any], VerifierFor]:
    """The local stack's traces, a catalogue file, and the shadow run's directory for its verifier."""
    from switchboard.adapters.releases import load_directory
    from switchboard.local.provisioning import DATA_DIR
    from switchboard.offline.export import local_traces

    models = load_directory(args.artifacts) if args.artifacts else None
    return (local_traces(args.state_dir), _catalog_file(args.catalog or DATA_DIR / "catalog.local.json"),
            lambda version: models.verifier if models is not None else None)


def _deployed(args: argparse.Namespace) -> tuple[list, dict[str, Any], VerifierFor]:
    """A stack's traces and catalogue; the installed shadow release's verifier, from the artifact bucket."""
    import boto3

    from switchboard.adapters.releases import ReleaseLoader
    from switchboard.adapters.stores.dynamo import DynamoCatalog, DynamoPolicy
    from switchboard.adapters.stores.s3_blobs import S3Blobs
    from switchboard.offline.export import table_traces
    from switchboard.service.publish import tables_from_stack

    session = boto3.session.Session(region_name=args.region)
    names = tables_from_stack(args.stack, session.client("cloudformation"))
    dynamodb = session.client("dynamodb", endpoint_url=args.endpoint_url)
    policy = DynamoPolicy(names["policy"], client=dynamodb, cache_s=0)
    shadow = policy.shadow()
    loader = ReleaseLoader(policy, S3Blobs(names["bucket"], client=session.client("s3")),
                           Path.home() / ".cache" / "switchboard" / "releases")

    def verifier_for(version: str) -> Any:
        # only the installed shadow's files are known; traces of an earlier shadow replay without it
        if shadow is None or shadow.release.version != version:
            return None
        models = loader.load(shadow.release)
        return models.verifier if models is not None else None

    return table_traces(names["traces"], dynamodb), DynamoCatalog(names["catalog"], client=dynamodb).models(), \
        verifier_for


def cmd_compare(args: argparse.Namespace) -> int:
    from switchboard.offline.export import ExportError
    from switchboard.offline.shadow_compare import compare
    from switchboard.ports import StoreError
    from switchboard.service.publish import PublishError

    try:
        traces, catalog, verifier_for = _local(args) if args.state_dir is not None else _deployed(args)
    except (ExportError, PublishError, StoreError, KeyError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from switchboard.adapters.encoder import EncoderUnavailable, get_encoder

    try:
        embed = get_encoder().embed_one
    except EncoderUnavailable:  # free-text answers are then compared exactly
        embed = None
    report = compare(traces, catalog, functools.cache(verifier_for), reference=args.reference, embed=embed,
                     since=args.since, progress=not args.no_progress)
    text = json.dumps(report, indent=1)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def register_compare(subparsers: Any) -> None:
    cmp = subparsers.add_parser(
        "compare", help="the shadow policy (publish --shadow) against the live one, over the traces since a time: "
                        "agreement, estimated cost, accuracy where the reference model answered")
    cmp.add_argument("--since", default=None, help="ISO 8601 time (UTC), e.g. 2026-12-04T00:00:00")
    source = cmp.add_mutually_exclusive_group()
    source.add_argument("--stack", default="Switchboard", help="deployed stack (traces, catalogue, policy, bucket)")
    source.add_argument("--state-dir", type=Path, default=None, help="the local stack's state directory")
    cmp.add_argument("--catalog", type=Path, default=None, help="with --state-dir: the catalogue file")
    cmp.add_argument("--artifacts", type=Path, default=None,
                     help="with --state-dir: the shadow run's directory (its verifier)")
    cmp.add_argument("--reference", default=None, help="model whose answers count as right (default: the dearest)")
    cmp.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint")
    cmp.add_argument("--region", default=None)
    cmp.add_argument("--out", type=Path, default=None, help="also write the report here (JSON)")
    cmp.add_argument("--no-progress", action="store_true")
    cmp.set_defaults(func=cmd_compare)
