"""``switchboard keys create|list|revoke``: callers' API keys of a deployed stack (or of the local stack's
emulator), each with an optional budget in USD that is a cap (``service.api_keys``).

A key's secret is printed once, by ``create``; the table keeps its sha256 only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _store(args: argparse.Namespace) -> Any:
    import boto3

    from switchboard.adapters.stores.dynamo_keys import DynamoKeys

    table = args.table
    if table is None:
        from switchboard.service.publish import PublishError, tables_from_stack

        try:
            table = tables_from_stack(args.stack, boto3.client("cloudformation", region_name=args.region))["keys"]
        except (PublishError, KeyError) as exc:
            raise SystemExit(f"error: no keys table from stack {args.stack}: {exc}") from exc
    client = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    return DynamoKeys(table, client=client)


def cmd_keys(args: argparse.Namespace) -> int:
    from switchboard.ports import StoreError
    from switchboard.service.api_keys import new_key

    try:
        store = _store(args)
        if args.keys_command == "create":
            if args.period is not None and args.budget_usd is None:
                print("error: --period needs --budget-usd", file=sys.stderr)
                return 2
            secret, key = new_key(args.name, args.budget_usd, period=args.period)
            store.create(key)
            print(json.dumps({"key": secret, "key_id": key.key_id, "name": key.name,
                              "budget_usd": key.budget_usd, "period": key.period}, indent=1))
            print("the key is shown only now: store it (e.g. in Secrets Manager); Switchboard keeps its hash",
                  file=sys.stderr)
        elif args.keys_command == "list":
            for key in store.all():
                per = f" a {key.period} ({key.window})" if key.period else ""
                left = "" if key.budget_usd is None else f" of ${key.budget_usd:g}{per}, ${key.available_usd:.6f} left"
                state = " REVOKED" if key.revoked else ""
                print(f"{key.key_id}  {key.name or '-'}  spent ${key.spent_usd:.6f}{left}{state}  {key.created_at}")
        elif not store.revoke(args.key_id):
            print(f"error: no key with id {args.key_id}", file=sys.stderr)
            return 2
        else:
            print(f"revoked {args.key_id}")
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="callers' API keys (Authorization: Bearer) and their budgets")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints its secret once")
    create.add_argument("--name", default="", help="who or what the key is for")
    create.add_argument("--budget-usd", type=float, default=None,
                        help="total spend the key may reach, a cap (default: no budget, spend only recorded)")
    create.add_argument("--period", choices=("day", "month"), default=None,
                        help="the budget is per UTC day or month, renewed by the first request of the next one "
                             "(default: one budget in all)")
    keys_sub.add_parser("list", help="every key: id, name, spend, budget left, revoked")
    revoke = keys_sub.add_parser("revoke", help="revoke a key (by its id, as listed)")
    revoke.add_argument("key_id")
    for parser in keys_sub.choices.values():
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--stack", default="Switchboard",
                            help="deployed stack whose KeysTableName output names the table (default: Switchboard)")
        target.add_argument("--table", default=None, help="keys table name (instead of --stack)")
        parser.add_argument("--endpoint-url", default=None,
                            help="DynamoDB endpoint (the local stack prints its emulator's, or DynamoDB Local)")
        parser.add_argument("--region", default=None)
        parser.set_defaults(func=cmd_keys)
