"""The handlers of specs/examples/, run in-process (the DynamoDB ones against moto's mock_aws)."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from tests.handlers.events import REGION, load_handler


def test_the_sqs_worker_reports_only_the_records_it_could_not_process(monkeypatch):
    worker = load_handler("lambda_code/examples/sqs_worker/worker.py", "example_sqs_worker", monkeypatch)
    records = [{"messageId": "m-1", "body": json.dumps({"id": "job-1"})},
               {"messageId": "m-2", "body": "not json"},
               {"messageId": "m-3", "body": json.dumps({"id": ""})}]
    assert worker.handler({"Records": records}, None) == {
        "batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}]}
    assert worker.handler({"Records": records[:1]}, None) == {"batchItemFailures": []}


@pytest.fixture
def items(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "items-api-dev-items")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName="items-api-dev-items", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        yield load_handler("lambda_code/examples/items_api/items.py", "example_items_api", monkeypatch)


def test_items_are_created_through_the_template_and_read_through_the_proxy(items):
    assert items.create_handler({"item": {"id": "i-1", "name": "lamp"}}, None) == {
        "item": {"id": "i-1", "name": "lamp"}}
    found = items.get_handler({"pathParameters": {"id": "i-1"}}, None)
    assert found["statusCode"] == 200 and json.loads(found["body"]) == {"id": "i-1", "name": "lamp"}
    assert items.get_handler({"pathParameters": {"id": "nope"}}, None)["statusCode"] == 404


def test_an_item_without_id_is_the_400_response(items):
    with pytest.raises(ValueError, match=r"^\[BadRequest\]"):
        items.create_handler({"item": {"name": "lamp"}}, None)
