"""Publish without a redeploy, through the local stack (synthesised template: its artifact bucket and
Policy table in the emulator, the five handlers in-process): ``switchboard publish`` a run, a request uses
its router; publish another, requests use the new one; ``publish --rollback``, requests use the old one
again; a release whose model file is corrupt is never loaded, the last good one serves.

Two real training runs (``switchboard train`` on topical outcomes, the real encoder) disagree on which
cheap model goes first for code prompts; the models answer through a scripted provider.
"""

from __future__ import annotations

import json
import os

import pytest

from switchboard import cli
from switchboard.domain.dial import Dial, lay_out
from switchboard.domain.release import Release, ReleasePointer
from switchboard.http.server import api_gateway_event
from switchboard.local.stack import LocalStack, StackOptions
from tests.support.fakes import ScriptedProvider, ScriptedProviders, catalog_entry
from tests.support.topical_outcomes import TOPICS, write_outcomes

pytest.importorskip("pandas")

TOPIC_ACCURACY = {"code": 0.3, "arithmetic": 0.3, "history": 0.3}
# v1: coder-small is the cheap model that is good at code; v2: math-small is
RUNS = {
    "v1": {"coder-small": ({**TOPIC_ACCURACY, "code": 0.95}, 0.0001), "math-small": (TOPIC_ACCURACY, 0.0001),
           "generalist-big": ({"code": 0.9, "arithmetic": 0.9, "history": 0.9}, 0.01)},
    "v2": {"coder-small": (TOPIC_ACCURACY, 0.0001), "math-small": ({**TOPIC_ACCURACY, "code": 0.95}, 0.0001),
           "generalist-big": ({"code": 0.9, "arithmetic": 0.9, "history": 0.9}, 0.01)},
}
CODE = TOPICS["code"](4242)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("releases")
    mp = pytest.MonkeyPatch()
    mp.setenv("SB_EMBED_CACHE", str(tmp / "embed-cache"))  # both runs share the prompts' embeddings
    try:
        out = {}
        for name, models in RUNS.items():
            data = write_outcomes(tmp / f"{name}.parquet", models)
            assert cli.main(["train", "--data", str(data), "--out", str(tmp / name), "--no-progress"]) == 0
            out[name] = tmp / name
    finally:
        mp.undo()
    return out


@pytest.fixture(scope="module")
def stack(runs, tmp_path_factory):
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    mp = pytest.MonkeyPatch()
    mp.setenv("SB_POLICY_TTL_S", "0")  # every request reads the pointer (in AWS: once a minute)
    mp.setenv("SB_RELEASE_CACHE", str(tmp_path_factory.mktemp("release-cache")))
    catalog = tmp_path_factory.mktemp("catalog") / "catalog.json"
    catalog.write_text(json.dumps([catalog_entry(m, price=1e4 * p).model_dump(mode="json")
                                   for m, (_, p) in RUNS["v1"].items()]))
    providers = ScriptedProviders({m: ScriptedProvider(lambda messages: "The answer is (A).") for m in RUNS["v1"]})
    local = LocalStack(StackOptions(catalog_path=catalog, taxonomy_path=runs["v1"] / "taxonomy.json",
                                    providers=providers)).start()
    yield local
    local.stop()
    mp.undo()


def _publish(local: LocalStack, *args: str) -> int:
    env = local.environment
    return cli.main(["publish", *args, "--taxonomy-table", env["SB_TAXONOMY_TABLE"], "--catalog-table",
                     env["SB_CATALOG_TABLE"], "--policy-table",
                     env["SB_POLICY_TABLE"], "--bucket", env["SB_ARTIFACT_BUCKET"], "--endpoint-url",
                     env["AWS_ENDPOINT_URL_DYNAMODB"], "--region", "us-east-1"])


def _plan(local: LocalStack) -> dict:
    body = {"messages": [{"role": "user", "content": CODE}], "max_tokens": 8}
    result = local.invoke_router(api_gateway_event("POST", "/v1/route", {"content-type": "application/json"},
                                                   json.dumps(body).encode()))
    assert result["statusCode"] == 200, result["body"]
    return json.loads(result["body"])["plan"]


def stack_last_verdicts(local: LocalStack) -> list[str]:
    body = {"messages": [{"role": "user", "content": CODE}], "max_tokens": 8}
    result = local.invoke_router(api_gateway_event("POST", "/v1/route", {"content-type": "application/json"},
                                                   json.dumps(body).encode()))
    out = json.loads(result["body"])
    assert out["decision"]["verified"] is True
    return [v["kind"] for v in out["attempts"][0]["verdicts"]]


def _expected_first_tier(run) -> str:
    dial = Dial.model_validate_json((run / "dial.json").read_text())
    return lay_out(dial, dial.select(), "code").tiers[0]


def test_publish_a_run_then_another_then_roll_back_each_takes_effect_without_a_redeploy(stack, runs, capsys):
    assert _expected_first_tier(runs["v1"]) == "coder-small" and _expected_first_tier(runs["v2"]) == "math-small"
    before = _plan(stack)
    assert before["release"] is None and before["route"] != "dial"  # nothing published: no dial, no learned router

    assert _publish(stack, str(runs["v1"])) == 0
    v1 = capsys.readouterr().out.split("release ")[1].split(" ")[0]
    plan = _plan(stack)
    assert (plan["release"], plan["route"], plan["tiers"][0]["model"]) == (v1, "dial", "coder-small")
    # the decide function verified the answer with that release's verifier (the one the dial was calibrated on)
    assert stack_last_verdicts(stack) == ["verifier"]

    assert _publish(stack, str(runs["v2"])) == 0
    printed = capsys.readouterr().out
    v2 = printed.split("release ")[1].split(" ")[0]
    assert v2 != v1 and f"replacing {v1}" in printed
    plan = _plan(stack)
    assert (plan["release"], plan["tiers"][0]["model"]) == (v2, "math-small")

    assert _publish(stack, "--rollback") == 0
    assert f"rolled back from release {v2} to {v1}" in capsys.readouterr().out
    plan = _plan(stack)
    assert (plan["release"], plan["tiers"][0]["model"]) == (v1, "coder-small")


def test_a_release_with_a_corrupt_model_file_is_never_loaded_and_the_last_good_one_serves(stack, runs, caplog):
    from switchboard.adapters.stores.dynamo import DynamoPolicy

    assert _publish(stack, str(runs["v2"])) == 0
    good = _plan(stack)["release"]
    policy = DynamoPolicy(stack.environment["SB_POLICY_TABLE"], client=stack.aws.client("dynamodb"), cache_s=0)
    pointer = policy.release()
    # a pointer to a release whose router.onnx in the bucket is not what its digest says (a half upload)
    s3 = stack.aws.client("s3")
    files = dict(pointer.current.files)
    damaged = (runs["v1"] / "router.onnx").read_bytes()[:1000]
    import hashlib

    files["router.onnx"] = hashlib.sha256(b"the digest the publisher meant").hexdigest()
    s3.put_object(Bucket=stack.environment["SB_ARTIFACT_BUCKET"], Key=f"blobs/{files['router.onnx']}", Body=damaged)
    bad = Release(version="20261204T050000Z-badbadbadbad", files=files, published_at="now")
    policy.put_release(ReleasePointer.advanced(pointer, bad), policy.dial(), policy.judge_policy(), "now")
    plan = _plan(stack)
    assert plan["release"] == good and plan["route"] == "dial"
    assert "release 20261204T050000Z-badbadbadbad not loaded, keeping the last good one" in caplog.text


def test_a_shadow_policy_is_planned_beside_the_live_one_and_compared_without_being_run(stack, runs, capsys):
    from switchboard.adapters.releases import load_directory
    from switchboard.offline.export import table_traces
    from switchboard.offline.shadow_compare import compare

    assert _publish(stack, str(runs["v1"])) == 0
    assert _publish(stack, str(runs["v2"]), "--shadow") == 0
    shadow_version = capsys.readouterr().out.split("shadow policy ")[1].split(" ")[0]
    plans = [_plan(stack) for _ in range(3)]
    for plan in plans:
        assert plan["tiers"][0]["model"] == "coder-small"  # live: v1
        shadow = plan["shadow"]
        assert shadow["release"] == shadow_version and shadow["error"] is None
        assert shadow["plan"]["tiers"][0]["model"] == "math-small"  # what v2 would have done
    traces = table_traces(stack.environment["SB_TRACES_TABLE"], stack.aws.client("dynamodb"))
    catalog = {e.model_id: e for e in stack.services().planner.sources.catalog.models().values()}
    verifier = load_directory(runs["v2"]).verifier
    report = compare(traces, catalog, verifier_for=lambda release: verifier if release == shadow_version else None)
    assert report["traces_with_shadow"] >= 3 and report["shadow_failed"] == 0
    assert report["agreement"]["same_first_tier"] == 0.0  # v2 starts elsewhere, on every request
    assert report["cost_per_1k_usd"]["shadow_estimated"] > 0

    assert _publish(stack, "--clear-shadow") == 0
    assert _plan(stack)["shadow"] is None
