"""``switchboard publish``: put a training run in force on a deployed stack (or the local stack's emulator),
and ``publish --rollback`` to go back one release."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _targets(args: argparse.Namespace, session: Any) -> dict[str, str | None]:
    """The tables and the artifact bucket: named on the command line, else from the stack's outputs."""
    from switchboard.service.publish import tables_from_stack

    if args.taxonomy_table:
        return {"taxonomy": args.taxonomy_table, "catalog": args.catalog_table, "policy": args.policy_table,
                "bucket": args.bucket}
    tables: dict[str, str | None] = dict(tables_from_stack(args.stack, session.client("cloudformation")))
    tables["catalog"] = args.catalog_table or tables["catalog"]
    tables["policy"] = args.policy_table or tables.get("policy")
    tables["bucket"] = args.bucket or tables.get("bucket")
    return tables


def cmd_publish(args: argparse.Namespace) -> int:
    """``switchboard publish DIR`` (a release) or ``switchboard publish --rollback``."""
    import boto3

    from switchboard.adapters.encoder import DIM
    from switchboard.adapters.stores.dynamo import DynamoCatalog, DynamoPolicy, DynamoTaxonomy, StoreError
    from switchboard.adapters.stores.s3_blobs import S3Blobs
    from switchboard.ports import BlobError
    from switchboard.service.publish import PublishError, publish, publish_shadow
    from switchboard.service.releases import rollback

    if args.directory is None and not (args.rollback or args.clear_shadow):
        print("error: name the --out directory of `switchboard train` to publish, or --rollback / --clear-shadow",
              file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=args.region)
    try:
        tables = _targets(args, session)
        dynamodb = session.client("dynamodb", endpoint_url=args.endpoint_url)
        catalog_table, policy_table, taxonomy_table = tables.get("catalog"), tables.get("policy"), tables["taxonomy"]
        assert taxonomy_table is not None  # required by the parser (or read from the stack)
        policy = DynamoPolicy(policy_table, client=dynamodb, cache_s=0) if policy_table else None
        bucket = tables.get("bucket")
        blobs = S3Blobs(bucket, client=session.client("s3")) if bucket else None
        if args.shadow or args.clear_shadow:
            if policy is None or (blobs is None and args.shadow):
                raise PublishError("a shadow policy needs the policy table and the artifact bucket (--stack, or "
                                   "--policy-table and --bucket)")
            if args.clear_shadow:
                policy.put_shadow(None, "now")
                print("shadow policy removed: routers stop planning with it within a minute")
                return 0
            assert blobs is not None
            shadow = publish_shadow(args.directory, policy_store=policy, blobs=blobs)
            print(f"shadow policy {shadow.version} installed: every request is planned with it too (nothing is "
                  "bought for it); `switchboard compare --since ...` reports how it would have done")
            return 0
        if args.rollback:
            if policy is None or blobs is None:
                raise PublishError("--rollback needs the policy table and the artifact bucket (--stack, or "
                                   "--policy-table and --bucket)")
            back = rollback(taxonomy_store=DynamoTaxonomy(taxonomy_table, client=dynamodb), policy_store=policy,
                            blobs=blobs, embedding_dim=DIM)
            print(f"rolled back from release {back.rolled_back_from} to {back.restored} ({back.categories} "
                  f"categories to {taxonomy_table}). Functions load it within a minute.")
            return 0
        catalog = DynamoCatalog(catalog_table, client=dynamodb) if catalog_table else None
        report = publish(args.directory, taxonomy_store=DynamoTaxonomy(taxonomy_table, client=dynamodb),
                         catalog_store=catalog, catalog_path=args.catalog,
                         current_catalog=catalog if args.catalog is None else None, policy_store=policy,
                         embedding_dim=DIM, blobs=blobs)
    except (PublishError, StoreError, BlobError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    deleted = f", removed {len(report.deleted_categories)} stale" if report.deleted_categories else ""
    parts = [f"published {report.categories} categories to {tables['taxonomy']}{deleted}"]
    if args.catalog:
        parts.append(f"{report.catalog_entries} catalogue entries to {tables['catalog']}")
    if report.dial_points:
        parts.append(f"the dial ({report.dial_points} points, profiles {report.profiles}) to {tables['policy']}")
    if report.judges:
        parts.append(f"the judge policy ({'+'.join(report.judges)}, calibrated for {report.judges_calibrated_for}) "
                     f"to {tables['policy']}")
    if report.release:
        replaced = f", replacing {report.replaced_release}" if report.replaced_release else ""
        parts.append(f"release {report.release} (the run's models, in s3://{tables['bucket']}){replaced}. "
                     "Functions load it within a minute; `switchboard publish --rollback` goes back one release")
    print("; ".join(parts) + ".")
    return 0


def register_publish(subparsers: Any) -> None:
    pub = subparsers.add_parser(
        "publish", help="put a training run in force on a deployed stack, no redeploy: its taxonomy, dial, judge "
                        "policy and ONNX models (a release); --rollback goes back one release")
    pub.add_argument("directory", type=Path, nargs="?", default=None, help="the --out directory of `switchboard train`")
    mode = pub.add_mutually_exclusive_group()
    mode.add_argument("--rollback", action="store_true",
                      help="put the release before the current one back in force (no directory)")
    mode.add_argument("--shadow", action="store_true",
                      help="install the run as a shadow policy: planned beside the live one on every request, "
                           "recorded in the traces, never run (see `switchboard compare`)")
    mode.add_argument("--clear-shadow", action="store_true", help="remove the shadow policy (no directory)")
    target = pub.add_mutually_exclusive_group()
    target.add_argument("--stack", default="Switchboard",
                        help="deployed stack whose outputs name the tables and the bucket (default: Switchboard)")
    target.add_argument("--taxonomy-table", default=None, help="taxonomy table name (instead of --stack)")
    pub.add_argument("--catalog", type=Path, default=None,
                     help="model catalogue JSON to publish too (model ids as in the training data, real providers)")
    pub.add_argument("--catalog-table", default=None, help="catalogue table name (default: from --stack)")
    pub.add_argument("--policy-table", default=None, help="policy (dial) table name (default: from --stack)")
    pub.add_argument("--bucket", default=None,
                     help="artifact bucket for the run's models (default: from --stack); without one only the "
                          "tables are written")
    pub.add_argument("--endpoint-url", default=None,
                     help="DynamoDB endpoint (e.g. DynamoDB Local); S3 honours AWS_ENDPOINT_URL_S3")
    pub.add_argument("--region", default=None)
    pub.set_defaults(func=cmd_publish)
