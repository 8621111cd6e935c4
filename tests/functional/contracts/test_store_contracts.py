"""Fakes are held to their adapters: each in-memory fake of ``tests.support.fakes`` and the DynamoDB
adapter it stands in for (on moto, with the local stack's atomic writes) go through the same assertions, so
a fake never promises what production does not."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from switchboard.adapters.stores.dynamo import (
    DynamoCatalog,
    DynamoPolicy,
    DynamoResponses,
    DynamoSessions,
    DynamoTaxonomy,
    DynamoTraces,
)
from switchboard.adapters.stores.dynamo_keys import DynamoKeys
from switchboard.adapters.stores.s3_blobs import S3Blobs
from switchboard.domain.dial import Dial, OperatingPoint
from switchboard.domain.judging import JudgePolicy
from switchboard.domain.release import Release, ReleasePointer, ShadowPolicy
from switchboard.domain.requests import ChatRequest, Message
from switchboard.domain.state import CascadeState, Plan, TierSpec
from switchboard.domain.taxonomy import Category
from switchboard.local.journal import install_patches
from switchboard.ports import BlobError, StoredResponse, StoreError, Trace
from switchboard.service.api_keys import current_window, new_key
from tests.support.fakes import (
    InMemoryBlobs,
    InMemoryCatalog,
    InMemoryKeys,
    InMemoryPolicy,
    InMemoryResponses,
    InMemorySessions,
    InMemoryTaxonomy,
    InMemoryTraces,
    catalog_entry,
)

# The traces table's index of a caller's newest traces, as infra/constructs/storage.py makes it
TRACES_INDEX = {
    "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("trace_id", "owner", "created_at")],
    "GlobalSecondaryIndexes": [{"IndexName": "by-owner", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"},
                                              {"AttributeName": "created_at", "KeyType": "RANGE"}]}]}
TABLES = {"traces": "trace_id", "responses": "response_id", "sessions": "session", "keys": "key_hash", "catalog": "model_id", "taxonomy": "category", "policy": "name"}


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[object]:
    install_patches()  # the local emulator's write lock: each DynamoDB write is atomic, as in AWS
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        for table, key in {**TABLES, "traces_unindexed": "trace_id"}.items():
            client.create_table(**{"TableName": table, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
                                   "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
                                   "BillingMode": "PAY_PER_REQUEST", **(TRACES_INDEX if table == "traces" else {})})
        yield client


def _empty(client: object, table: str) -> None:
    for item in client.scan(TableName=table)["Items"]:  # type: ignore[attr-defined]
        client.delete_item(TableName=table, Key={TABLES[table]: item[TABLES[table]]})  # type: ignore[attr-defined]


@pytest.fixture(params=["fake", "dynamodb"])
def stores(request: pytest.FixtureRequest, dynamodb: object) -> dict[str, object]:
    """Each store, as the fake or as the adapter over an emptied emulated table."""
    if request.param == "fake":
        return {"traces": InMemoryTraces(), "responses": InMemoryResponses(), "sessions": InMemorySessions(), "keys": InMemoryKeys(), "catalog": InMemoryCatalog(),
                "taxonomy": InMemoryTaxonomy(), "policy": InMemoryPolicy(None)}
    for table in TABLES:
        _empty(dynamodb, table)
    return {"traces": DynamoTraces("traces", client=dynamodb), "responses": DynamoResponses("responses", client=dynamodb),
            "sessions": DynamoSessions("sessions", client=dynamodb),
            "keys": DynamoKeys("keys", client=dynamodb),
            "catalog": DynamoCatalog("catalog", client=dynamodb, cache_s=0),
            "taxonomy": DynamoTaxonomy("taxonomy", client=dynamodb, cache_s=0),
            "policy": DynamoPolicy("policy", client=dynamodb, cache_s=0)}


def _trace(trace_id: str) -> Trace:
    request = ChatRequest(messages=[Message(role="user", content="q")])
    state = CascadeState(request_id=trace_id, request=request, plan=Plan(tiers=[TierSpec(model="m")]), spent_usd=0.25)
    return Trace(trace_id=trace_id, created_at="2026-12-04T00:00:00.000+00:00", status="succeeded", state=state)


def test_a_trace_reads_back_as_written_and_gathers_feedback(stores):
    traces = stores["traces"]
    assert traces.get("nope") is None
    traces.put(_trace("t1"), 1)
    assert traces.get("t1") == _trace("t1")
    assert traces.add_feedback("t1", {"score": 1.0}) and traces.add_feedback("t1", {"score": 0.0})
    assert [f["score"] for f in traces.get("t1").feedback] == [1.0, 0.0]
    assert traces.add_feedback("nope", {"score": 1.0}) is False


def _owned(trace_id: str, key_id: str | None, minute: int) -> Trace:
    trace = _trace(trace_id)
    assert trace.state is not None
    trace.state.request.key_id = key_id
    return trace.model_copy(update={"created_at": f"2026-12-04T00:{minute:02d}:00.000+00:00"})


def test_a_caller_lists_its_own_newest_traces_only(stores):
    traces = stores["traces"]
    for n, owner in enumerate(["key-a", None, "key-a", "key-b", "key-a", None]):
        traces.put(_owned(f"t{n}", owner, n), 1)
    assert [t.trace_id for t in traces.recent("key-a", 10)] == ["t4", "t2", "t0"]
    assert [t.trace_id for t in traces.recent("key-a", 2)] == ["t4", "t2"]
    assert [t.trace_id for t in traces.recent(None, 10)] == ["t5", "t1"]  # requests made without a key
    assert traces.recent("key-c", 10) == []
    traces.add_feedback("t4", {"score": 1.0})
    assert traces.recent("key-a", 1)[0].feedback == [{"score": 1.0}]


def test_a_traces_table_without_the_index_is_scanned_for_the_same_answer(dynamodb):
    traces = DynamoTraces("traces_unindexed", client=dynamodb)
    for n, owner in enumerate(["key-a", None, "key-a", "key-b"]):
        traces.put(_owned(f"u{n}", owner, n), 1)
    assert [t.trace_id for t in traces.recent("key-a", 10)] == ["u2", "u0"]
    assert [t.trace_id for t in traces.recent(None, 10)] == ["u1"]


def test_a_stored_response_reads_back_as_written_with_its_owner(stores):
    responses = stores["responses"]
    assert responses.get("resp_nope") is None
    stored = StoredResponse(response_id="resp_1", owner="key-a", created_at=1_800_000_000,
                            response={"id": "resp_1", "output": [{"type": "message", "content": []}]},
                            conversation=[{"role": "user", "content": "hi"}])
    responses.put(stored, 1)
    responses.put(stored.model_copy(update={"response_id": "resp_2", "owner": None}), 1)
    assert responses.get("resp_1") == stored and responses.get("resp_2").owner is None


def test_a_session_keeps_the_last_model_put(stores):
    sessions = stores["sessions"]
    assert sessions.get("k|user:ada") is None
    sessions.put("k|user:ada", "fast", 60)
    sessions.put("k|user:ada", "strong", 60)
    assert sessions.get("k|user:ada") == "strong" and sessions.get("other|user:ada") is None


def test_a_reservation_takes_only_what_is_left_and_settling_returns_the_rest(stores):
    keys = stores["keys"]
    secret, key = new_key("k", 1.0)
    keys.create(key)
    with pytest.raises(StoreError):
        keys.create(key)  # a key is created once
    assert keys.get(key.key_hash).available_usd == pytest.approx(1.0)
    assert keys.reserve(key.key_hash, 0.75) is True
    assert keys.reserve(key.key_hash, 0.5) is False  # 0.25 left
    keys.settle(key.key_hash, 0.75, 0.5)
    stored = keys.get(key.key_hash)
    assert stored.available_usd == pytest.approx(0.5) and stored.spent_usd == pytest.approx(0.5)
    assert keys.get("no-such-hash") is None and keys.reserve("no-such-hash", 0.1) is False
    keys.settle("no-such-hash", 0.1, 0.1)  # a key deleted meanwhile: nothing to settle, quietly


def test_a_revoked_key_reserves_nothing_and_keys_list_in_creation_order(stores):
    keys = stores["keys"]
    first = new_key("a", None)[1].model_copy(update={"created_at": "2026-01-01"})
    second = new_key("b", 2.0)[1].model_copy(update={"created_at": "2026-01-02"})
    keys.create(second)
    keys.create(first)
    assert [k.key_id for k in keys.all()] == [first.key_id, second.key_id]
    assert keys.reserve(first.key_hash, 100.0) is True  # no budget: tracked, never refused
    assert keys.revoke(second.key_id) is True and keys.revoke("key_nope") is False
    assert keys.reserve(second.key_hash, 0.1) is False


def test_a_budget_renews_forward_once_and_settles_against_the_period_it_was_reserved_in(stores):
    keys = stores["keys"]
    day1, day2 = current_window("day", 1_795_000_000.0), current_window("day", 1_795_086_400.0)
    _, key = new_key("daily", 1.0, period="day")
    keys.create(key.model_copy(update={"window": day1}))
    assert keys.reserve(key.key_hash, 0.5, day1) is True
    assert keys.reserve(key.key_hash, 0.1, day2) is False  # not that period's budget yet
    assert keys.renew(key.key_hash, day1, day2, 1.0) is True
    assert keys.renew(key.key_hash, day1, day2, 1.0) is False  # renewed once
    assert keys.renew(key.key_hash, day2, day1, 1.0) is False  # never back
    keys.settle(key.key_hash, 0.5, 0.2, day1)  # day 1's unspent part stays day 1's
    stored = keys.get(key.key_hash)
    assert stored.available_usd == pytest.approx(1.0) and stored.spent_usd == pytest.approx(0.2)


def test_published_catalogue_taxonomy_and_policy_read_back(stores):
    catalog, taxonomy, policy = stores["catalog"], stores["taxonomy"], stores["policy"]
    assert catalog.put_all([catalog_entry("a"), catalog_entry("b", price=2.0)]) == 2
    assert sorted(catalog.models()) == ["a", "b"] and catalog.models()["b"].price.input_usd_per_mtok == 2.0
    old = [Category(name="x", centroid=[1.0, 0.0], tiers=["a"]), Category(name="y", centroid=[0.0, 1.0], tiers=["b"])]
    assert taxonomy.replace_all(old) == (2, [])
    new = [Category(name="z", centroid=[0.6, 0.8], tiers=["a", "b"]), old[1]]
    assert taxonomy.replace_all(new) == (2, ["x"])
    assert [c.name for c in taxonomy.categories()] == ["y", "z"]
    assert policy.dial() is None and policy.judge_policy() is None
    dial = Dial(models=["a", "b"], global_order=["a", "b"], points=[OperatingPoint(name="p", models=2)])
    judges = JudgePolicy(judges=["confidence"])
    policy.put(dial, "now")
    policy.put_judges(judges, "now")
    assert policy.dial() == dial and policy.judge_policy() == judges and policy.release() is None


def test_a_release_goes_in_force_with_its_dial_and_judges_and_removes_what_it_does_not_have(stores):
    policy = stores["policy"]
    dial = Dial(models=["a", "b"], global_order=["a", "b"], points=[OperatingPoint(name="p", models=2)])
    policy.put(dial, "now")
    policy.put_judges(JudgePolicy(judges=["confidence"]), "now")
    release = Release(version="v1", files={"router.onnx": "a" * 64}, published_at="now")
    pointer = ReleasePointer.advanced(None, release)
    policy.put_release(pointer, None, JudgePolicy(judges=["self_verify"]), "now")
    assert policy.release() == pointer
    assert policy.dial() is None  # the release has no dial: the earlier one is not left in force beside it
    assert policy.judge_policy() == JudgePolicy(judges=["self_verify"])
    assert policy.shadow() is None
    shadow = ShadowPolicy(release=release, dial=dial)
    policy.put_shadow(shadow, "now")
    assert policy.shadow() == shadow and policy.release() == pointer  # beside the live one, not in its place
    policy.put_shadow(None, "now")
    assert policy.shadow() is None


def test_artifact_blobs_are_content_addressed_and_verified():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        s3.create_bucket(Bucket="artifacts")
        for blobs in (InMemoryBlobs(), S3Blobs("artifacts", client=s3)):
            sha = blobs.put(b"router bytes")
            assert sha == hashlib.sha256(b"router bytes").hexdigest()
            assert blobs.put(b"router bytes") == sha and blobs.get(sha) == b"router bytes"
            with pytest.raises(BlobError):
                blobs.get("0" * 64)
        s3.put_object(Bucket="artifacts", Key=f"blobs/{sha}", Body=b"tampered")
        with pytest.raises(BlobError, match="does not have its sha256"):
            S3Blobs("artifacts", client=s3).get(sha)


def test_a_store_that_cannot_be_reached_raises_store_error():
    class Down:
        def __getattr__(self, name: str):  # noqa: ANN204 - every client call fails as botocore's would
            def fail(**_: object) -> None:
                raise ConnectionError("endpoint unreachable")
            return fail

    for store, call in ((InMemoryTraces(fail=True), lambda s: s.get("t")),
                        (DynamoTraces("traces", client=Down()), lambda s: s.get("t")),
                        (InMemoryTraces(fail=True), lambda s: s.put(_trace("t"), 1)),
                        (DynamoTraces("traces", client=Down()), lambda s: s.put(_trace("t"), 1))):
        with pytest.raises(StoreError):
            call(store)
