"""Decide and record Lambdas on the sample events; record writes to an emulated DynamoDB (moto)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from functions.decide import handler as decide
from functions.record import handler as record
from switchboard import composition
from switchboard.adapters.stores.dynamo import DynamoTraces
from switchboard.local.emulator import LocalLambdaContext
from switchboard.service.settings import SettingsError
from tests.support.events import load_event

CTX = LocalLambdaContext(function_name="local")


@pytest.mark.parametrize("scenario,action,tier", [
    ("confident", "accept", 0), ("not_confident", "escalate", 1), ("tier_failed", "escalate", 1)])
def test_decide_event_gives_decision_and_moves_cursor(scenario, action, tier):
    out = decide.lambda_handler(load_event("decide", scenario), CTX)
    assert out["decision"]["action"] == action
    assert out["tier"] == tier and out["current"] is None and len(out["attempts"]) == 1


@pytest.fixture
def traces_table(monkeypatch):
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="traces", KeySchema=[{"AttributeName": "trace_id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "trace_id", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        monkeypatch.setenv("SB_TRACES_TABLE", "traces")
        monkeypatch.setenv("SB_TRACE_TTL_DAYS", "7")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
        composition.reset()
        yield client
        composition.reset()


def test_record_writes_trace_with_ttl_and_cost(traces_table):
    out = record.lambda_handler(load_event("record", "final_state"), CTX)
    assert {k: out[k] for k in ("trace_id", "stored")} == {"trace_id": "evt-0001", "stored": True}
    assert out["stage"]["stage"] == "record" and out["stage"]["ms"] >= 0  # the write's time, for the metrics
    item = traces_table.get_item(TableName="traces", Key={"trace_id": {"S": "evt-0001"}})["Item"]
    assert item["status"]["S"] == "succeeded"
    assert int(item["expires_at"]["N"]) > 0 and float(item["cost_usd"]["N"]) > 0
    trace = DynamoTraces("traces", client=traces_table).get("evt-0001")
    assert trace.state.decision.action == "accept"


def test_record_with_metrics_disabled_prints_nothing_however_many_requests(traces_table, capsys):
    # Powertools keeps the metrics it does not publish, and prints the set once a metric holds 100 values
    for _ in range(120):
        record.lambda_handler(load_event("record", "final_state"), CTX)
    assert capsys.readouterr().out == ""
    assert not record.metrics.metric_set


def test_feedback_appends_under_a_condition(traces_table):
    record.lambda_handler(load_event("record", "final_state"), CTX)
    store = DynamoTraces("traces", client=traces_table)
    assert store.add_feedback("evt-0001", {"score": 1.0}) is True
    assert store.add_feedback("evt-0001", {"score": 0.0}) is True
    assert [f["score"] for f in store.get("evt-0001").feedback] == [1.0, 0.0]
    assert store.add_feedback("missing", {"score": 1.0}) is False


def test_record_without_table_env_fails_cold_start_clearly(monkeypatch):
    monkeypatch.delenv("SB_TRACES_TABLE", raising=False)
    composition.reset()
    with pytest.raises(SettingsError, match="SB_TRACES_TABLE"):
        record.lambda_handler(load_event("record", "final_state"), CTX)
    composition.reset()
