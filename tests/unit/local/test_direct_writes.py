"""A plain PutItem to the emulator is answered by its backend directly - through the backend's ``put_item``,
which the journal wraps - and anything else (a condition, an invalid item, an unknown table) takes the
usual path with its usual errors."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from switchboard.local import direct_writes

ENDPOINT = "https://dynamodb.us-east-1.amazonaws.com"


@pytest.fixture
def client(monkeypatch):
    calls: list[str] = []
    original = DynamoDBBackend.put_item

    def spy(self, table_name, item_attrs, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(table_name)
        return original(self, table_name, item_attrs, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "put_item", spy)
    answered: list[bool] = []
    real = direct_writes.put_in_process

    def counting(**kwargs):  # noqa: ANN003, ANN202
        result = real(**kwargs)
        answered.append(result is not None)
        return result

    monkeypatch.setattr(direct_writes, "put_in_process", counting)
    with mock_aws():
        direct_writes.serve_puts_in_process(ENDPOINT)
        try:
            dynamodb = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="t",
                                    aws_secret_access_key="t")
            dynamodb.create_table(TableName="traces", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                  BillingMode="PAY_PER_REQUEST")
            yield dynamodb, calls, answered
        finally:
            direct_writes.serve_puts_in_process(None)


def test_a_plain_put_is_written_by_the_backend_directly(client):
    dynamodb, calls, answered = client
    reply = dynamodb.put_item(TableName="traces", Item={"id": {"S": "t1"}, "body": {"S": "{}"}})
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert answered == [True] and calls == ["traces"]
    assert dynamodb.get_item(TableName="traces", Key={"id": {"S": "t1"}})["Item"]["body"] == {"S": "{}"}


def test_a_conditional_put_takes_the_usual_path_and_its_condition_holds(client):
    dynamodb, _, answered = client
    put = {"TableName": "traces", "Item": {"id": {"S": "t2"}}, "ConditionExpression": "attribute_not_exists(id)"}
    dynamodb.put_item(**put)
    with pytest.raises(ClientError) as refused:
        dynamodb.put_item(**put)
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert answered == [False, False]


@pytest.mark.parametrize(("table", "item", "code"), [
    ("traces", {"id": {"S": ""}}, "ValidationException"),
    ("missing", {"id": {"S": "x"}}, "ResourceNotFoundException"),
])
def test_an_invalid_put_gets_the_emulator_s_own_error(client, table, item, code):
    dynamodb, calls, answered = client
    with pytest.raises(ClientError) as refused:
        dynamodb.put_item(TableName=table, Item=item)
    assert refused.value.response["Error"]["Code"] == code
    assert answered == [False]


def test_a_put_to_another_endpoint_is_not_touched(client):
    dynamodb, _, answered = client
    direct_writes.serve_puts_in_process("http://127.0.0.1:1")  # the emulator is elsewhere
    dynamodb.put_item(TableName="traces", Item={"id": {"S": "t3"}})  # mock_aws answers it the usual way
    assert answered == [False]
