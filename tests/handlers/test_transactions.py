"""The transactions Lambda handlers (lambda_code/transactions), run in-process against moto's mock_aws with
the events AWS sends: API Gateway proxy requests for the validator, asynchronous invokes for the
notification handler, SQS batches for the analytics and reporting processors."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.handlers import events
from tests.handlers.events import ACCOUNT, REGION, load_handler, sqs_arn

FOLDER = "lambda_code/transactions"
PREFIX = "transactions-dev"
TABLE = f"{PREFIX}-transactions"
BUCKET = f"{PREFIX}-logs-{ACCOUNT}"
NOW = datetime(2024, 3, 1, 14, 35, tzinfo=timezone.utc)

analytics_event = partial(events.sqs_event, queue_arn=sqs_arn(f"{PREFIX}-analytics-queue"))
reporting_event = partial(events.sqs_event, queue_arn=sqs_arn(f"{PREFIX}-reporting-queue"))

PAYMENT = {"transaction_id": "txn-0001", "account_id": "ACC-1001", "amount": "125.50", "currency": "USD",
           "type": "payment", "merchant_id": "MER-42", "description": "Coffee beans",
           "timestamp": "2024-03-01T14:30:00Z"}


# --- fixtures ------------------------------------------------------------------------------------------

@pytest.fixture
def cloud(monkeypatch):
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        table = dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "transaction_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "transaction_id", "AttributeType": "S"},
                                  {"AttributeName": "account_id", "AttributeType": "S"},
                                  {"AttributeName": "created_at", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "account-index",
                "KeySchema": [{"AttributeName": "account_id", "KeyType": "HASH"},
                              {"AttributeName": "created_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}],
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        )
        sqs = boto3.client("sqs", region_name=REGION)
        analytics = sqs.create_queue(QueueName=f"{PREFIX}-analytics-queue")["QueueUrl"]
        reporting = sqs.create_queue(QueueName=f"{PREFIX}-reporting-queue")["QueueUrl"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name=f"{PREFIX}-transaction-notifications")["TopicArn"]
        inbox = sqs.create_queue(QueueName="notification-inbox")["QueueUrl"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sqs_arn("notification-inbox"))

        monkeypatch.setenv("TRANSACTIONS_TABLE", TABLE)
        monkeypatch.setenv("ANALYTICS_QUEUE_URL", analytics)
        monkeypatch.setenv("REPORTING_QUEUE_URL", reporting)
        monkeypatch.setenv("NOTIFICATION_FUNCTION", f"{PREFIX}-notification-handler")
        monkeypatch.setenv("TOPIC_ARN", topic)
        monkeypatch.setenv("REPORT_BUCKET", BUCKET)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", f"{PREFIX}-analytics-processor")
        for name in ("LARGE_AMOUNT_THRESHOLD", "REPORT_PREFIX", "METRICS_NAMESPACE", "LOG_LEVEL"):
            monkeypatch.delenv(name, raising=False)
        yield SimpleNamespace(table=table, sqs=sqs, s3=s3, analytics=analytics, reporting=reporting, inbox=inbox)


@pytest.fixture
def shared(cloud, monkeypatch):
    """transaction.py, registered under the name the handlers import (undone after the test)."""
    return load_handler(f"{FOLDER}/transaction.py", "transaction", monkeypatch)


class Invocations(list):
    """Stands in for the validator's Lambda client: moto cannot run the notification function."""

    def invoke(self, **kwargs):
        self.append({**kwargs, "Payload": json.loads(kwargs["Payload"])})
        return {"StatusCode": 202}


@pytest.fixture
def validator(shared, monkeypatch):
    module = load_handler(f"{FOLDER}/validator.py", "txn_validator", monkeypatch)
    monkeypatch.setattr(module, "lambda_client", Invocations())
    return module


@pytest.fixture
def notifications(shared, monkeypatch):
    return load_handler(f"{FOLDER}/notifications.py", "txn_notifications", monkeypatch)


@pytest.fixture
def analytics(shared, monkeypatch):
    return load_handler(f"{FOLDER}/analytics.py", "txn_analytics", monkeypatch)


@pytest.fixture
def reporting(shared, monkeypatch):
    return load_handler(f"{FOLDER}/reporting.py", "txn_reporting", monkeypatch)


# --- helpers -------------------------------------------------------------------------------------------

def api_event(body, method: str = "POST", content_type: str | None = "application/json",
              base64_body: bool = False) -> dict:
    """POST /transactions as API Gateway's REST Lambda-proxy integration sends it (payload 1.0)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "curl/8.5.0",
               "X-Forwarded-For": "203.0.113.10"}
    if content_type:
        headers["content-type"] = content_type
    return {
        "resource": "/transactions",
        "path": "/transactions",
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"resourcePath": "/transactions", "httpMethod": method, "path": "/prod/transactions",
                           "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                           "accountId": ACCOUNT, "apiId": "abc123",
                           "identity": {"sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"}},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def post(validator, body, **options) -> tuple[int, dict]:
    result = validator.handler(api_event(body, **options), None, now=NOW)
    assert result["headers"]["Content-Type"] == "application/json"
    return result["statusCode"], json.loads(result["body"])


def received(cloud, url: str) -> list:
    """Every message waiting in a queue (moto: all of them in one call of up to 10)."""
    return cloud.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                     VisibilityTimeout=0).get("Messages", [])


def message(transaction: dict) -> dict:
    return {"version": 1, "transaction": transaction}


def record(transaction_id: str, amount: str = "10.00", currency: str = "USD", kind: str = "payment",
           created_at: str = "2024-03-01T14:30:00.000000Z", account: str = "ACC-1") -> dict:
    return {"transaction_id": transaction_id, "account_id": account, "amount": amount, "currency": currency,
            "type": kind, "created_at": created_at}


def objects(cloud) -> dict:
    listed = cloud.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: cloud.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().decode() for o in listed}


def emf_lines(capsys) -> list:
    return [line for line in map(json.loads, capsys.readouterr().out.splitlines()) if "_aws" in line]


# --- validator: accepted transactions ------------------------------------------------------------------

def test_valid_transaction_is_stored_as_decimal_and_queued_for_analytics_and_reporting(cloud, validator, capsys):
    status, body = post(validator, PAYMENT)

    assert status == 201
    assert body == {"status": "accepted", "transaction": {
        "transaction_id": "txn-0001", "account_id": "ACC-1001", "amount": "125.50", "currency": "USD",
        "type": "payment", "merchant_id": "MER-42", "description": "Coffee beans",
        "created_at": "2024-03-01T14:30:00.000000Z"}}
    item = cloud.table.get_item(Key={"transaction_id": "txn-0001"}, ConsistentRead=True)["Item"]
    assert isinstance(item["amount"], Decimal) and item["amount"] == Decimal("125.50")
    assert (item["status"], item["received_at"]) == ("accepted", "2024-03-01T14:35:00.000000Z")
    assert item["published_at"] and len(item["fingerprint"]) == 64

    for url in (cloud.analytics, cloud.reporting):
        queued, = received(cloud, url)
        assert json.loads(queued["Body"]) == {"version": 1, "transaction": body["transaction"]}
        assert '"amount":"125.50"' in queued["Body"]   # a string, so no consumer reads a float
        assert queued["MessageAttributes"]["currency"]["StringValue"] == "USD"
        assert queued["MessageAttributes"]["type"]["StringValue"] == "payment"
    assert validator.lambda_client == []   # below LARGE_AMOUNT_THRESHOLD: no notification

    log = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert log == {"level": "INFO", "status": "accepted", "transaction_id": "txn-0001", "amount": "125.50",
                   "currency": "USD", "type": "payment", "notified": False}


def test_amounts_never_pass_through_float(cloud, validator):
    raw = '{"account_id": "ACC-1", "amount": 999999999.99, "currency": "usd", "type": "transfer"}'
    status, body = post(validator, raw)

    assert status == 201
    assert body["transaction"]["amount"] == "999999999.99"
    assert body["transaction"]["currency"] == "USD"
    # boto3 refuses float attributes outright, so a stored item proves the amount was a Decimal all along
    item = cloud.table.get_item(Key={"transaction_id": body["transaction"]["transaction_id"]})["Item"]
    assert isinstance(item["amount"], Decimal) and str(item["amount"]) == "999999999.99"


@pytest.mark.parametrize("amount, currency, stored, text", [
    (12.5, "USD", Decimal("12.5"), "12.50"),          # JSON number, padded to the currency's scale
    ("0.01", "EUR", Decimal("0.01"), "0.01"),
    (1500, "JPY", Decimal("1500"), "1500"),           # no minor unit
    ("1.125", "KWD", Decimal("1.125"), "1.125"),      # three decimal places
    ("7.500", "GBP", Decimal("7.5"), "7.50"),         # trailing zeros are not extra places
    ("1000000000", "USD", Decimal("1000000000"), "1000000000.00"),
])
def test_amount_is_kept_at_the_currency_scale(cloud, validator, amount, currency, stored, text):
    status, body = post(validator, {"account_id": "ACC-1", "amount": amount, "currency": currency,
                                    "type": "payment"})

    assert status == 201, body
    assert body["transaction"]["amount"] == text
    item = cloud.table.get_item(Key={"transaction_id": body["transaction"]["transaction_id"]})["Item"]
    assert item["amount"] == stored


def test_generated_id_and_time_and_a_base64_body(cloud, validator):
    raw = json.dumps({"account_id": "ACC-7", "amount": "3.20", "currency": "CHF", "type": "refund"})
    status, body = post(validator, base64.b64encode(raw.encode()).decode(), base64_body=True)

    assert status == 201
    txn = body["transaction"]
    assert len(txn["transaction_id"]) == 36   # a UUID
    assert txn["created_at"] == "2024-03-01T14:35:00.000000Z"   # the time the request arrived


def test_timestamp_with_an_offset_is_stored_in_utc_and_the_account_index_orders_by_time(cloud, validator):
    for number, timestamp in enumerate(["2024-03-01T09:00:00-05:00", "2024-02-29T23:59:59.5+01:00",
                                        "2024-03-01 08:00:00"]):
        status, _ = post(validator, {**PAYMENT, "transaction_id": f"txn-{number}", "timestamp": timestamp})
        assert status == 201

    items = cloud.table.query(IndexName="account-index", KeyConditionExpression=Key("account_id").eq("ACC-1001"),
                              ScanIndexForward=False)["Items"]
    assert [(i["transaction_id"], i["created_at"]) for i in items] == [
        ("txn-0", "2024-03-01T14:00:00.000000Z"),
        ("txn-2", "2024-03-01T08:00:00.000000Z"),
        ("txn-1", "2024-02-29T22:59:59.500000Z"),
    ]


def test_large_transaction_is_handed_to_the_notification_function(cloud, validator, monkeypatch):
    monkeypatch.setenv("LARGE_AMOUNT_THRESHOLD", "5000")
    status, body = post(validator, {**PAYMENT, "amount": "5000.00"})

    assert status == 201
    call, = validator.lambda_client
    assert (call["FunctionName"], call["InvocationType"]) == (f"{PREFIX}-notification-handler", "Event")
    assert call["Payload"] == {"reason": "large_amount", "threshold": "5000", "transaction": body["transaction"]}


def test_no_notification_function_configured_means_no_notification(cloud, validator, monkeypatch):
    monkeypatch.delenv("NOTIFICATION_FUNCTION")
    assert post(validator, {**PAYMENT, "amount": "20000"})[0] == 201
    assert validator.lambda_client == []


# --- validator: idempotency ----------------------------------------------------------------------------

def test_repeat_of_the_same_transaction_is_answered_from_the_table(cloud, validator):
    assert post(validator, PAYMENT)[0] == 201
    status, body = post(validator, {**PAYMENT, "amount": 125.5})   # same value, written differently

    assert status == 200
    assert body["transaction"]["amount"] == "125.50"
    assert len(received(cloud, cloud.analytics)) == 1   # not queued twice
    assert len(received(cloud, cloud.reporting)) == 1


def test_same_id_with_other_content_is_a_conflict(cloud, validator):
    assert post(validator, PAYMENT)[0] == 201
    status, body = post(validator, {**PAYMENT, "amount": "125.51"})

    assert status == 409
    assert "txn-0001" in body["error"]
    assert cloud.table.get_item(Key={"transaction_id": "txn-0001"})["Item"]["amount"] == Decimal("125.5")


def test_a_retry_after_a_failed_publish_completes_the_work(cloud, validator, monkeypatch):
    good_url = cloud.reporting
    monkeypatch.setenv("REPORTING_QUEUE_URL", good_url.replace("reporting-queue", "missing-queue"))
    with pytest.raises(ClientError):
        validator.handler(api_event(PAYMENT), None, now=NOW)
    item = cloud.table.get_item(Key={"transaction_id": "txn-0001"}, ConsistentRead=True)["Item"]
    assert "published_at" not in item

    monkeypatch.setenv("REPORTING_QUEUE_URL", good_url)
    status, _ = post(validator, PAYMENT)

    assert status == 200
    assert len(received(cloud, cloud.reporting)) == 1
    assert len(received(cloud, cloud.analytics)) == 2   # at least once: the processors see it again
    assert "published_at" in cloud.table.get_item(Key={"transaction_id": "txn-0001"}, ConsistentRead=True)["Item"]


def test_aws_errors_are_not_swallowed(cloud, validator, monkeypatch):
    monkeypatch.setenv("TRANSACTIONS_TABLE", "no-such-table")
    with pytest.raises(ClientError):
        validator.handler(api_event(PAYMENT), None, now=NOW)


# --- validator: rejected requests ----------------------------------------------------------------------

@pytest.mark.parametrize("change, field, reason", [
    ({"amount": "-5.00"}, "amount", "not a positive decimal"),
    ({"amount": 0}, "amount", "greater than 0"),
    ({"amount": -1}, "amount", "greater than 0"),
    ({"amount": "1e3"}, "amount", "plain notation"),
    ({"amount": " 12.00"}, "amount", "plain notation"),
    ({"amount": True}, "amount", "must be a number"),
    ({"amount": [1]}, "amount", "must be a number"),
    ({"amount": "12.345"}, "amount", "USD allows 2 decimal place(s)"),
    ({"amount": 0.30000000000000004}, "amount", "USD allows 2"),
    ({"amount": "100.5", "currency": "JPY"}, "amount", "JPY allows 0"),
    ({"amount": "1000000000.01"}, "amount", "at most 1000000000"),
    ({"amount": None}, "amount", "is required"),
    ({"currency": "XYZ"}, "currency", "not a supported ISO 4217"),
    ({"currency": "US"}, "currency", "not a supported"),
    ({"currency": 840}, "currency", "not a supported"),
    ({"type": "withdrawal"}, "type", "payment, refund, transfer"),
    ({"account_id": ""}, "account_id", "1-64 of"),
    ({"account_id": "ACC 1"}, "account_id", "1-64 of"),
    ({"account_id": 1001}, "account_id", "1-64 of"),
    ({"transaction_id": "x" * 65}, "transaction_id", "1-64 of"),
    ({"merchant_id": "a/b"}, "merchant_id", "1-64 of"),
    ({"description": "line\nbreak"}, "description", "control characters"),
    ({"description": "x" * 257}, "description", "at most 256"),
    ({"timestamp": "2024-03-01T14:41:00Z"}, "timestamp", "in the future"),
    ({"timestamp": "1999-12-31T23:59:59Z"}, "timestamp", "before the year 2000"),
    ({"timestamp": "2024-02-30T10:00:00Z"}, "timestamp", "not a valid date"),
    ({"timestamp": "2024-03-01"}, "timestamp", "ISO-8601 date and time"),
    ({"timestamp": 1709303400}, "timestamp", "ISO-8601"),
    ({"amout": "1.00"}, "body", "unknown field(s): amout"),
])
def test_invalid_transaction_is_rejected_with_the_reason(cloud, validator, change, field, reason):
    status, body = post(validator, {**PAYMENT, **change})

    assert status == 400
    assert body["error"] == "invalid transaction"
    assert reason in body["details"][field], body
    assert "Items" not in cloud.table.scan() or cloud.table.scan()["Items"] == []
    assert received(cloud, cloud.analytics) == []


def test_every_problem_is_reported_at_once(cloud, validator):
    status, body = post(validator, {"amount": "abc", "currency": "ZZZ"})

    assert status == 400
    assert set(body["details"]) == {"account_id", "amount", "currency", "type"}


@pytest.mark.parametrize("raw, message", [
    ("", "empty body"),
    ("   ", "empty body"),
    ("{not json", "not valid JSON"),
    ('{"amount": NaN, "account_id": "A", "currency": "USD", "type": "payment"}', "not valid JSON"),
    ('{"amount": Infinity}', "not valid JSON"),
    ("[1, 2]", "invalid transaction"),
    ('"a string"', "invalid transaction"),
])
def test_malformed_body_is_400(cloud, validator, raw, message):
    status, body = post(validator, raw)

    assert status == 400
    assert message in body["error"]


def test_invalid_base64_and_invalid_utf8(cloud, validator):
    assert post(validator, "***", base64_body=True)[0] == 400
    status, body = post(validator, base64.b64encode(b'{"a": "\xff"}').decode(), base64_body=True)
    assert (status, body["error"].startswith("body is not valid JSON")) == (400, True)


def test_method_content_type_and_size_are_checked(cloud, validator):
    result = validator.handler(api_event(PAYMENT, method="GET"), None, now=NOW)
    assert (result["statusCode"], result["headers"]["Allow"]) == (405, "POST")
    assert post(validator, PAYMENT, content_type="text/plain")[0] == 415
    assert post(validator, PAYMENT, content_type="application/json; charset=utf-8")[0] == 201
    assert post(validator, {**PAYMENT, "transaction_id": "t2"}, content_type=None)[0] == 201
    assert post(validator, {**PAYMENT, "description": "x" * 70000})[0] == 413


def test_not_an_api_event(cloud, validator):
    assert validator.handler("POST /transactions", None)["statusCode"] == 400


# --- notification handler ------------------------------------------------------------------------------

def notification_event(**changes) -> dict:
    transaction = {"transaction_id": "txn-9", "account_id": "ACC-1001", "amount": "25000.00", "currency": "USD",
                   "type": "payment", "created_at": "2024-03-01T14:30:00.000000Z"}
    return {"reason": "large_amount", "threshold": "10000", "transaction": transaction, **changes}


def test_large_transaction_is_published_with_filterable_attributes(cloud, notifications, capsys):
    result = notifications.handler(notification_event(), None)

    envelope = json.loads(received(cloud, cloud.inbox)[0]["Body"])
    assert result == {"message_id": envelope["MessageId"]}
    assert envelope["Subject"] == "Large payment: 25000.00 USD on account ACC-1001"
    assert json.loads(envelope["Message"]) == {
        "reason": "large_amount", "threshold": "10000",
        "transaction": {"transaction_id": "txn-9", "account_id": "ACC-1001", "amount": "25000.00",
                        "currency": "USD", "type": "payment", "created_at": "2024-03-01T14:30:00.000000Z"}}
    attributes = {name: value["Value"] for name, value in envelope["MessageAttributes"].items()}
    assert attributes == {"reason": "large_amount", "currency": "USD", "type": "payment", "account_id": "ACC-1001"}
    log = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (log["status"], log["transaction_id"]) == ("notified", "txn-9")


def test_what_the_validator_sends_is_what_the_notification_handler_accepts(cloud, validator, notifications):
    post(validator, {**PAYMENT, "amount": "12000", "currency": "EUR"})
    payload = validator.lambda_client[0]["Payload"]

    notifications.handler(payload, None)

    envelope = json.loads(received(cloud, cloud.inbox)[0]["Body"])
    assert envelope["Subject"] == "Large payment: 12000.00 EUR on account ACC-1001"


def test_subject_stays_within_the_sns_limit(notifications):
    long_id = "A" * 64
    text = notifications.subject({"type": "transfer", "amount": Decimal("123456789.12"), "currency": "USD",
                                  "account_id": long_id})
    assert len(text) == 100 and text.endswith("...")


@pytest.mark.parametrize("event, reason", [
    ("large_amount", "must be a JSON object"),
    ({}, "unknown reason None"),
    (notification_event(reason="small_amount"), "unknown reason"),
    (notification_event(transaction=None), "invalid transaction"),
    (notification_event(transaction={"transaction_id": "t"}), "invalid transaction"),
    (notification_event(threshold="lots"), "is not a number"),
    (notification_event(threshold="NaN"), "is not a number"),
    (notification_event(threshold=True), "is not a number"),
])
def test_malformed_notification_fails_so_it_reaches_the_dlq(cloud, notifications, event, reason):
    with pytest.raises(notifications.InvalidNotification, match=reason):
        notifications.handler(event, None)
    assert received(cloud, cloud.inbox) == []


def test_notification_amount_from_a_float_is_refused(cloud, notifications):
    event = notification_event()
    event["transaction"]["amount"] = 0.1 + 0.2
    with pytest.raises(notifications.InvalidNotification, match="amount"):
        notifications.handler(event, None)


# --- analytics processor -------------------------------------------------------------------------------

def test_batch_becomes_one_emf_document_per_currency_and_type(analytics, capsys):
    event = analytics_event(
        message(record("t1", "0.10")), message(record("t2", "0.20")), message(record("t3", "5", "JPY")),
        message(record("t4", "3.00", kind="refund")), message(record("t5", "100.25")))

    assert analytics.handler(event, None) == {"batchItemFailures": []}

    documents = {(d["Currency"], d["Type"]): d for d in emf_lines(capsys)}
    assert sorted(documents) == [("JPY", "payment"), ("USD", "payment"), ("USD", "refund")]
    usd = documents[("USD", "payment")]
    assert (usd["TransactionCount"], usd["TransactionAmountExact"], usd["LargestTransaction"]) == (3, "100.55",
                                                                                                    100.25)
    assert usd["TransactionAmount"] == 100.55   # the double CloudWatch stores; the exact sum is a string
    assert usd["Service"] == f"{PREFIX}-analytics-processor"
    directive, = usd["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Transactions"
    assert directive["Dimensions"] == [["Service", "Currency", "Type"]]
    assert [m["Name"] for m in directive["Metrics"]] == ["TransactionCount", "TransactionAmount",
                                                          "LargestTransaction"]
    assert isinstance(usd["_aws"]["Timestamp"], int)
    assert documents[("JPY", "payment")]["TransactionAmountExact"] == "5"


def test_analytics_returns_only_the_bad_messages(analytics, capsys, monkeypatch):
    monkeypatch.setenv("METRICS_NAMESPACE", "Transactions/test")
    event = analytics_event(
        message(record("t1")),
        "not json",
        {"version": 2, "transaction": record("t2")},
        message({**record("t3"), "amount": "1.001"}),
        message({**record("t4"), "extra": 1}),
        message(record("t5", currency="XXX")),
        message({k: v for k, v in record("t6").items() if k != "created_at"}),
        message(record("t7")))

    result = analytics.handler(event, None)

    assert result == {"batchItemFailures": [{"itemIdentifier": events.message_id(i)} for i in range(1, 7)]}
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    document, = [line for line in out if "_aws" in line]
    assert document["TransactionCount"] == 2
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Transactions/test"
    warnings = [line for line in out if line.get("level") == "WARNING"]
    assert len(warnings) == 6 and "created_at" in warnings[-1]["errors"]
    assert out[-1] == {"level": "INFO", "status": "processed", "records": 8, "valid": 2, "invalid": 6, "groups": 1}


def test_analytics_empty_batch(analytics, capsys):
    assert analytics.handler({"Records": []}, None) == {"batchItemFailures": []}
    assert emf_lines(capsys) == []


@pytest.mark.parametrize("event", [None, {}, {"Records": "x"}, events.s3_event("a.csv", bucket="b",
                                                                               configuration_id="c"),
                                   {"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}])
def test_analytics_refuses_what_is_not_an_sqs_batch(analytics, event):
    with pytest.raises(ValueError, match="not an SQS event"):
        analytics.handler(event, None)


def test_log_level_warning_keeps_the_metrics_and_drops_the_info_line(analytics, capsys, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    analytics.handler(analytics_event(message(record("t1"))), None)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1 and "_aws" in lines[0]


# --- reporting processor -------------------------------------------------------------------------------

def test_batch_is_written_as_one_jsonl_object_per_day(cloud, reporting, capsys):
    event = reporting_event(
        message(record("t2", "9.99", created_at="2024-03-01T23:59:59.999999Z")),
        message(record("t1", "1000000.01", created_at="2024-03-01T00:00:00.000000Z")),
        message(record("t3", "7", "JPY", created_at="2024-03-02T00:00:00.000000Z")))

    assert reporting.handler(event, None) == {"batchItemFailures": []}

    written = objects(cloud)
    first_day = reporting.report_key("logs/reports/", "2024-03-01", [events.message_id(0), events.message_id(1)])
    second_day = reporting.report_key("logs/reports/", "2024-03-02", [events.message_id(2)])
    assert sorted(written) == [first_day, second_day]
    assert first_day.startswith("logs/reports/date=2024-03-01/") and first_day.endswith(".jsonl")
    rows = [json.loads(line) for line in written[first_day].splitlines()]
    assert [(r["transaction_id"], r["amount"], r["message_id"]) for r in rows] == [
        ("t1", "1000000.01", events.message_id(1)), ("t2", "9.99", events.message_id(0))]
    assert json.loads(written[second_day]) == {**record("t3", "7", "JPY", created_at="2024-03-02T00:00:00.000000Z"),
                                               "message_id": events.message_id(2)}
    head = cloud.s3.head_object(Bucket=BUCKET, Key=second_day)
    assert head["ContentType"] == "application/x-ndjson"
    log = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (log["status"], log["reported"], log["objects"]) == ("processed", 3, [first_day, second_day])


def test_redelivered_batch_overwrites_its_own_report(cloud, reporting):
    event = reporting_event(message(record("t1")), message(record("t2")))
    reporting.handler(event, None)
    reporting.handler(event, None)

    assert len(objects(cloud)) == 1


def test_reporting_returns_bad_messages_and_writes_the_rest(cloud, reporting, monkeypatch):
    monkeypatch.setenv("REPORT_PREFIX", "logs/custom/")
    event = reporting_event(message(record("t1")), '{"version": 1}', message({**record("t2"), "amount": 12.5}))

    result = reporting.handler(event, None)

    assert result == {"batchItemFailures": [{"itemIdentifier": events.message_id(1)}]}
    (key, body), = objects(cloud).items()
    assert key.startswith("logs/custom/date=2024-03-01/")
    assert [json.loads(line)["amount"] for line in body.splitlines()] == ["10.00", "12.50"]


def test_a_day_that_cannot_be_written_is_retried_alone(cloud, reporting, monkeypatch):
    real_put = reporting.s3.put_object

    def put_object(**kwargs):
        if "date=2024-03-02" in kwargs["Key"]:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}},
                              "PutObject")
        return real_put(**kwargs)

    monkeypatch.setattr(reporting.s3, "put_object", put_object)
    event = reporting_event(message(record("t1")), message(record("t2", created_at="2024-03-02T01:00:00Z")))

    assert reporting.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": events.message_id(1)}]}
    assert len(objects(cloud)) == 1


def test_reporting_fails_the_invocation_when_nothing_could_be_written(cloud, reporting, monkeypatch):
    monkeypatch.setenv("REPORT_BUCKET", "no-such-bucket-for-reports")
    with pytest.raises(ClientError):
        reporting.handler(reporting_event(message(record("t1"))), None)


def test_reporting_refuses_what_is_not_an_sqs_batch(reporting):
    with pytest.raises(ValueError, match="not an SQS event"):
        reporting.handler({"Records": [{"messageId": "1", "eventSource": "aws:kinesis"}]}, None)


# --- the whole path ------------------------------------------------------------------------------------

def test_validator_messages_feed_the_processors(cloud, validator, analytics, reporting, capsys):
    for number, amount in enumerate(["10.00", "20.50", "0.01"]):
        assert post(validator, {**PAYMENT, "transaction_id": f"txn-{number}", "amount": amount})[0] == 201
    capsys.readouterr()

    def as_event(url, build):
        batch = received(cloud, url)
        event = build(*[m["Body"] for m in batch])
        for record_, sqs_message in zip(event["Records"], batch, strict=True):
            record_["messageId"] = sqs_message["MessageId"]
        return event

    assert analytics.handler(as_event(cloud.analytics, analytics_event), None) == {"batchItemFailures": []}
    document, = emf_lines(capsys)
    assert (document["TransactionCount"], document["TransactionAmountExact"]) == (3, "30.51")

    assert reporting.handler(as_event(cloud.reporting, reporting_event), None) == {"batchItemFailures": []}
    (key, body), = objects(cloud).items()
    assert key.startswith("logs/reports/date=2024-03-01/")
    assert sorted(json.loads(line)["amount"] for line in body.splitlines()) == ["0.01", "10.00", "20.50"]
