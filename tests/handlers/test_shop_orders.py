"""The shop orders Lambda handler, run in-process against moto's mock_aws with the events AWS sends."""
from __future__ import annotations

import json
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.handlers import events
from tests.handlers.events import REGION, load_handler, message_id, s3_test_event, sqs_arn

BUCKET = "shop-dev-receipts"
TABLE = "shop-dev-orders"
QUEUE_ARN = sqs_arn("shop-dev-orders")

T0 = 1709303400  # 2024-03-01T14:30:00Z
YEAR = 365 * 86400

ORDER = {"customer_id": "c-1001", "order_id": "o-5001", "status": "pending", "amount": 19.99,
         "currency": "USD", "created_at": T0}


# --- fixtures ------------------------------------------------------------------------------------------

@pytest.fixture
def cloud(monkeypatch):
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        table = boto3.resource("dynamodb", region_name=REGION).create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"},
                       {"AttributeName": "order_id", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "customer_id", "AttributeType": "S"},
                                  {"AttributeName": "order_id", "AttributeType": "S"},
                                  {"AttributeName": "status", "AttributeType": "S"},
                                  {"AttributeName": "created_at", "AttributeType": "N"}],
            GlobalSecondaryIndexes=[{
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                              {"AttributeName": "created_at", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("TABLE_NAME", TABLE)
        monkeypatch.delenv("RETENTION_DAYS", raising=False)
        yield SimpleNamespace(s3=s3, table=table)


@pytest.fixture
def orders(cloud, monkeypatch):
    """The handler module, loaded by path (lambda_code folders are not packages) inside mock_aws."""
    return load_handler("lambda_code/shop_orders/orders.py", "shop_orders_handler_under_test", monkeypatch)


# --- events --------------------------------------------------------------------------------------------

# The orders queue's batches, and notifications from the versioned receipts bucket (so with a versionId).
sqs_event = partial(events.sqs_event, queue_arn=QUEUE_ARN)
RECEIPTS = {"bucket": BUCKET, "configuration_id": "incoming-receipts", "version_id": "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"}
s3_record = partial(events.s3_record, **RECEIPTS)
s3_event = partial(events.s3_event, **RECEIPTS)

S3_TEST_EVENT = s3_test_event(BUCKET)


# --- helpers -------------------------------------------------------------------------------------------

def put_object(cloud, key: str, body: str | bytes) -> None:
    cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)


def items(cloud) -> list:
    found = cloud.table.scan(ConsistentRead=True)["Items"]
    return sorted(found, key=lambda item: (item["customer_id"], item["order_id"]))


def get(cloud, customer_id: str, order_id: str) -> dict:
    return cloud.table.get_item(Key={"customer_id": customer_id, "order_id": order_id},
                                ConsistentRead=True)["Item"]


def by_status(cloud, status: str) -> list:
    found = cloud.table.query(IndexName="by-status", KeyConditionExpression=Key("status").eq(status))["Items"]
    return [(item["order_id"], item["created_at"]) for item in found]


def log_lines(capsys) -> list:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def stored(customer_id, order_id, status, amount, currency, created_at, updated_at=None) -> dict:
    return {"customer_id": customer_id, "order_id": order_id, "status": status, "amount": Decimal(amount),
            "currency": currency, "created_at": Decimal(created_at),
            "updated_at": Decimal(created_at if updated_at is None else updated_at),
            "expires_at": Decimal(created_at + YEAR)}


# --- SQS: orders published to the topic ----------------------------------------------------------------

LONG_ID = "C" * 64


def test_sqs_batch_writes_good_orders_and_fails_only_the_bad_ones(cloud, orders, capsys):
    event = sqs_event(
        # Written as raw text so the wire form of the amount is exactly 19.99.
        '{"customer_id": "c-1001", "order_id": "o-5001", "status": "pending", "amount": 19.99, '
        '"currency": "USD", "created_at": 1709303400, "note": "gift wrap"}',
        '{"customer_id": "c-1002", "order_id": ',                                  # 1: truncated JSON
        {**ORDER, "order_id": "o-5003", "status": "lost"},                          # 2: unknown status
        {"customer_id": LONG_ID, "order_id": "o_5004", "status": "paid", "amount": "5",
         "currency": "EUR", "created_at": "2024-03-01T09:30:00-05:00"},
        {**ORDER, "order_id": "o-5005", "amount": "10.999"},                        # 4: 3 decimal places
        [ORDER],                                                                    # 5: not an object
        {**ORDER, "customer_id": "c-1003", "order_id": "o-5007", "status": "cancelled", "amount": 0,
         "currency": "GBP", "created_at": "2024-03-02"},
    )

    result = orders.handler(event, None)

    assert result == {"batchItemFailures": [{"itemIdentifier": message_id(i)} for i in (1, 2, 4, 5)]}
    assert items(cloud) == [
        stored("C" * 64, "o_5004", "paid", "5", "EUR", T0),
        stored("c-1001", "o-5001", "pending", "19.99", "USD", T0),
        stored("c-1003", "o-5007", "cancelled", "0", "GBP", 1709337600),
    ]
    amount = get(cloud, "c-1001", "o-5001")["amount"]
    assert isinstance(amount, Decimal) and str(amount) == "19.99"
    assert by_status(cloud, "paid") == [("o_5004", Decimal(T0))]

    [line] = log_lines(capsys)
    assert {k: v for k, v in line.items() if k != "failures"} == {
        "source": "sqs", "messages": 7, "written": 3, "unchanged": 0, "ignored": 0, "failed": 4}
    errors = {failure["messageId"]: failure["error"] for failure in line["failures"]}
    assert list(errors) == [message_id(i) for i in (1, 2, 4, 5)]
    assert errors[message_id(1)].startswith("message body is not valid JSON")
    assert errors[message_id(2)] == "status 'lost' is not one of pending, paid, shipped, cancelled"
    assert errors[message_id(4)] == "amount '10.999' has more than 2 decimal places"
    assert errors[message_id(5)] == "order is a JSON list, not an object"


@pytest.mark.parametrize("field, value, error", [
    ("customer_id", None, "missing customer_id"),
    ("customer_id", "", "missing customer_id"),
    ("customer_id", "c" * 65, "customer_id 'ccccccccc"),
    ("customer_id", "c 1001", "customer_id 'c 1001' is not 1-64 characters of A-Z a-z 0-9 _ -"),
    ("customer_id", 1001, "customer_id 1001 is not 1-64 characters"),
    ("order_id", "o/5001", "order_id 'o/5001' is not 1-64 characters"),
    ("status", "Paid", "status 'Paid' is not one of pending, paid, shipped, cancelled"),
    ("amount", -1, "amount -1 is negative"),
    ("amount", "-1.00", "amount '-1.00' is not a non-negative decimal"),
    ("amount", "1e3", "amount '1e3' is not a non-negative decimal"),
    ("amount", "NaN", "amount 'NaN' is not a non-negative decimal"),
    ("amount", "1,000.00", "amount '1,000.00' is not a non-negative decimal"),
    ("amount", True, "amount True is not a non-negative decimal"),
    ("amount", 1.005, "amount Decimal('1.005') has more than 2 decimal places"),
    ("amount", 1e40, "amount Decimal('1E+40') is too large"),
    ("currency", "usd", "currency 'usd' is not 3 upper-case letters"),
    ("currency", "EURO", "currency 'EURO' is not 3 upper-case letters"),
    ("created_at", T0 * 1000, "created_at 1709303400000 is out of range"),
    ("created_at", -1, "created_at -1 is out of range"),
    ("created_at", "yesterday", "created_at 'yesterday' is not epoch seconds or ISO-8601"),
    ("created_at", T0 + 0.5, "created_at Decimal('1709303400.5') is not epoch seconds (an integer)"),
    ("created_at", False, "created_at False is not epoch seconds (an integer) or ISO-8601"),
    ("updated_at", "soon", "updated_at 'soon' is not epoch seconds or ISO-8601"),
])
def test_invalid_orders_fail_their_message_and_are_not_written(cloud, orders, capsys, field, value, error):
    order = {**ORDER, field: value}
    if value is None:
        del order[field]

    assert orders.handler(sqs_event(order, {**ORDER, "order_id": "o-ok"}), None) == {
        "batchItemFailures": [{"itemIdentifier": message_id(0)}]}

    assert [item["order_id"] for item in items(cloud)] == ["o-ok"]
    [line] = log_lines(capsys)
    assert line["failures"][0]["error"].startswith(error)


@pytest.mark.parametrize("body", [
    "",
    "not json",
    '{"customer_id": "c-1001", "amount": NaN}',
    '{"customer_id": "c-1001", "amount": Infinity}',
])
def test_malformed_bodies_fail_their_message(cloud, orders, capsys, body):
    assert orders.handler(sqs_event(body), None) == {"batchItemFailures": [{"itemIdentifier": message_id(0)}]}
    assert items(cloud) == []
    assert log_lines(capsys)[0]["failures"][0]["error"].startswith("message body is not valid JSON")


def test_aws_errors_fail_each_sqs_message_without_raising(cloud, orders, monkeypatch, capsys):
    monkeypatch.setenv("TABLE_NAME", "no-such-table")

    result = orders.handler(sqs_event(ORDER, {**ORDER, "order_id": "o-2"}), None)

    assert result == {"batchItemFailures": [{"itemIdentifier": message_id(i)} for i in (0, 1)]}
    assert all("ResourceNotFoundException" in f["error"] for f in log_lines(capsys)[0]["failures"])


# --- SQS: receipts uploaded as JSON --------------------------------------------------------------------

def test_sqs_message_with_an_s3_notification_writes_the_receipts_orders(cloud, orders, capsys):
    batch_key = "incoming/2024/03/01/store 12 (east)+batch.json"
    put_object(cloud, batch_key, """[
        {"customer_id": "c-2001", "order_id": "o-1", "status": "paid", "amount": 1234.50,
         "currency": "EUR", "created_at": "2024-03-01T14:30:00Z"},
        {"customer_id": "c-2001", "order_id": "o-2", "status": "shipped", "amount": 0.1,
         "currency": "EUR", "created_at": 1709303400, "updated_at": "2024-03-01T15:00:00Z"}
    ]""")
    put_object(cloud, "incoming/single.json", "\ufeff" + json.dumps({**ORDER, "customer_id": "c-2002"}))
    event = sqs_event({"Records": [s3_record(batch_key)]}, {"Records": [s3_record("incoming/single.json")]})
    assert "store+12+%28east%29%2Bbatch.json" in event["Records"][0]["body"]

    assert orders.handler(event, None) == {"batchItemFailures": []}

    assert items(cloud) == [
        stored("c-2001", "o-1", "paid", "1234.50", "EUR", T0),
        stored("c-2001", "o-2", "shipped", "0.1", "EUR", T0, updated_at=T0 + 1800),
        stored("c-2002", "o-5001", "pending", "19.99", "USD", T0),
    ]
    assert str(get(cloud, "c-2001", "o-2")["amount"]) == "0.1"
    assert log_lines(capsys)[0]["written"] == 3


def test_bad_or_missing_receipts_fail_only_their_message(cloud, orders, capsys):
    put_object(cloud, "incoming/bad.json", json.dumps([{**ORDER, "order_id": "o-a"},
                                                        {**ORDER, "order_id": "o-b", "currency": "usd"}]))
    put_object(cloud, "incoming/not-json.json", "customer_id,order_id\n")
    event = sqs_event(
        {"Records": [s3_record("incoming/bad.json")]},
        {"Records": [s3_record("incoming/missing.json")]},
        {"Records": [s3_record("incoming/not-json.json")]},
        {**ORDER, "order_id": "o-good"},
    )

    result = orders.handler(event, None)

    assert result == {"batchItemFailures": [{"itemIdentifier": message_id(i)} for i in (0, 1, 2)]}
    # A receipts object is all or nothing: o-a is valid but was not written either.
    assert [item["order_id"] for item in items(cloud)] == ["o-good"]
    errors = [failure["error"] for failure in log_lines(capsys)[0]["failures"]]
    assert errors[0] == f"s3://{BUCKET}/incoming/bad.json order 1: currency 'usd' is not 3 upper-case letters"
    assert "NoSuchKey" in errors[1]
    assert errors[2].startswith(f"s3://{BUCKET}/incoming/not-json.json is not valid JSON")


def test_s3_test_event_is_ignored(cloud, orders, capsys):
    assert orders.handler(sqs_event(S3_TEST_EVENT), None) == {"batchItemFailures": []}

    assert items(cloud) == []
    assert log_lines(capsys)[0]["ignored"] == 1


# --- S3: receipts uploaded as CSV ----------------------------------------------------------------------

GOOD_AND_BAD_CSV = (
    "\ufeffcustomer_id,order_id,status,amount,currency,created_at\r\n"
    "c-1,o-1,pending,19.99,USD,1709303400\r\n"                   # 2
    "c-1,o-2,paid,5,EUR,2024-03-01T09:30:00-05:00\r\n"           # 3
    "c-2,o-3,lost,1.00,USD,1709303400\r\n"                       # 4: unknown status
    "c-2,o-4,paid,1.999,USD,1709303400\r\n"                      # 5: 3 decimal places
    "\r\n"                                                       # 6: blank, skipped
    "c-3,o-5,shipped,abc,USD,1709303400\r\n"                     # 7: not a number
    "c-3,o-6,paid,1.00,USD\r\n"                                  # 8: a field short
    ",o-7,paid,1.00,USD,1709303400\r\n"                          # 9: no customer
    'c-4,o-8,shipped,"1,000.00",USD,1709303400\r\n'              # 10: thousands separator
    "c-4,o-9,cancelled, 0.10 ,GBP,2024-03-02\r\n"                # 11
    "c-5,o-10,paid,1.00,USD,1709303400000\r\n"                   # 12: epoch milliseconds
)


def test_s3_csv_writes_good_rows_and_reports_bad_ones(cloud, orders, capsys):
    key = "incoming/2024/03/01/store 12 (east)+returns 100%.csv"
    put_object(cloud, key, GOOD_AND_BAD_CSV)
    event = s3_event(key)
    assert event["Records"][0]["s3"]["object"]["key"] == (
        "incoming/2024/03/01/store+12+%28east%29%2Breturns+100%25.csv")

    result = orders.handler(event, None)

    assert result == {"written": 3, "unchanged": 0, "rejected": [
        {"row": 4, "error": "status 'lost' is not one of pending, paid, shipped, cancelled"},
        {"row": 5, "error": "amount '1.999' has more than 2 decimal places"},
        {"row": 7, "error": "amount 'abc' is not a non-negative decimal"},
        {"row": 8, "error": "5 fields but the header has 6"},
        {"row": 9, "error": "missing customer_id"},
        {"row": 10, "error": "amount '1,000.00' is not a non-negative decimal"},
        {"row": 12, "error": "created_at '1709303400000' is out of range (epoch seconds 0-253402300799)"},
    ]}
    assert items(cloud) == [
        stored("c-1", "o-1", "pending", "19.99", "USD", T0),
        stored("c-1", "o-2", "paid", "5", "EUR", T0),
        stored("c-4", "o-9", "cancelled", "0.10", "GBP", 1709337600),
    ]
    assert str(get(cloud, "c-1", "o-1")["amount"]) == "19.99"

    [line] = log_lines(capsys)
    assert line == {"source": "s3", "objects": [f"s3://{BUCKET}/{key}"], "written": 3, "unchanged": 0,
                    "rejected": 7, "rejections": result["rejected"]}


@pytest.mark.parametrize("body, rejection", [
    ("", {"row": 1, "error": "header lacks column(s) customer_id, order_id, status, amount, currency, "
                            "created_at; nothing was loaded"}),
    ("customer_id,order_id,status,amount,created_at\nc-1,o-1,paid,1.00,1709303400\n",
     {"row": 1, "error": "header lacks column(s) currency; nothing was loaded"}),
    (b"customer_id,order_id,status,amount,currency,created_at\nc-1,o-1,paid,1.00,USD,1709303400\n"
     b"c-1,o-2,paid,\xff,USD,1709303400\n",
     {"row": 3, "error": "file is not UTF-8 text; nothing was loaded"}),
])
def test_unreadable_csv_is_one_rejection_and_writes_nothing(cloud, orders, body, rejection):
    put_object(cloud, "incoming/bad.csv", body)

    assert orders.handler(s3_event("incoming/bad.csv"), None) == {"written": 0, "unchanged": 0,
                                                                  "rejected": [rejection]}
    assert items(cloud) == []


def test_csv_header_is_matched_loosely_and_extra_columns_are_ignored(cloud, orders):
    put_object(cloud, "incoming/a.csv", " Order_ID ,customer_id,STATUS,amount,currency,created_at,store\n"
                                        "o-1,c-1,paid,7.5,USD,1709303400,east\n")

    assert orders.handler(s3_event("incoming/a.csv"), None) == {"written": 1, "unchanged": 0, "rejected": []}
    assert items(cloud) == [stored("c-1", "o-1", "paid", "7.5", "USD", T0)]


@pytest.mark.parametrize("table, code", [
    (TABLE, "NoSuchKey"),
    ("no-such-table", "ResourceNotFoundException"),
])
def test_aws_errors_propagate_from_s3_events(cloud, orders, monkeypatch, table, code):
    monkeypatch.setenv("TABLE_NAME", table)
    if code != "NoSuchKey":
        put_object(cloud, "incoming/a.csv", GOOD_AND_BAD_CSV)

    with pytest.raises(ClientError) as raised:
        orders.handler(s3_event("incoming/a.csv"), None)

    assert raised.value.response["Error"]["Code"] == code


# --- idempotency and ordering --------------------------------------------------------------------------

def test_replayed_messages_and_files_change_nothing(cloud, orders, capsys):
    event = sqs_event(ORDER, {**ORDER, "order_id": "o-2", "status": "paid"})
    assert orders.handler(event, None) == {"batchItemFailures": []}
    put_object(cloud, "incoming/a.csv", GOOD_AND_BAD_CSV)
    assert orders.handler(s3_event("incoming/a.csv"), None)["written"] == 3
    before = items(cloud)
    capsys.readouterr()

    assert orders.handler(event, None) == {"batchItemFailures": []}
    replay = orders.handler(s3_event("incoming/a.csv"), None)

    assert (replay["written"], replay["unchanged"], len(replay["rejected"])) == (0, 3, 7)
    sqs_line = log_lines(capsys)[0]
    assert (sqs_line["written"], sqs_line["unchanged"], sqs_line["failed"]) == (0, 2, 0)
    assert items(cloud) == before
    assert len(before) == 5


def test_newer_status_wins_and_older_versions_do_not_overwrite(cloud, orders, capsys):
    pending = {**ORDER}                                                       # updated_at = created_at
    paid = {**ORDER, "status": "paid", "updated_at": "2024-03-01T14:35:00Z"}  # T0 + 300
    shipped = {**ORDER, "status": "shipped", "updated_at": T0 + 3600}
    same_time = {**shipped, "status": "cancelled"}

    orders.handler(sqs_event(pending), None)
    assert get(cloud, "c-1001", "o-5001")["status"] == "pending"
    orders.handler(sqs_event(shipped), None)
    assert get(cloud, "c-1001", "o-5001")["status"] == "shipped"
    capsys.readouterr()

    # Late and replayed versions, including one with the same updated_at: the first written stays.
    assert orders.handler(sqs_event(paid, pending, same_time), None) == {"batchItemFailures": []}

    assert items(cloud) == [stored("c-1001", "o-5001", "shipped", "19.99", "USD", T0, updated_at=T0 + 3600)]
    assert by_status(cloud, "shipped") == [("o-5001", Decimal(T0))]
    assert by_status(cloud, "pending") == []
    assert log_lines(capsys)[0]["unchanged"] == 3


def test_versions_arriving_out_of_order_in_one_batch_end_with_the_newest(cloud, orders):
    versions = [{**ORDER, "status": status, "updated_at": T0 + offset}
                for status, offset in (("shipped", 600), ("pending", 0), ("paid", 300))]

    orders.handler(sqs_event(*versions), None)

    assert get(cloud, "c-1001", "o-5001")["status"] == "shipped"


def test_csv_updated_at_column_orders_versions(cloud, orders):
    put_object(cloud, "incoming/a.csv",
               "customer_id,order_id,status,amount,currency,created_at,updated_at\n"
               "c-1,o-1,shipped,5.00,USD,1709303400,2024-03-01T16:00:00Z\n"
               "c-1,o-1,paid,5.00,USD,1709303400,2024-03-01T15:00:00Z\n"
               "c-1,o-2,paid,5.00,USD,1709303400,\n")

    result = orders.handler(s3_event("incoming/a.csv"), None)

    assert result == {"written": 2, "unchanged": 1, "rejected": []}
    assert items(cloud) == [stored("c-1", "o-1", "shipped", "5.00", "USD", T0, updated_at=T0 + 5400),
                            stored("c-1", "o-2", "paid", "5.00", "USD", T0)]


# --- configuration -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, "", "  "])
@pytest.mark.parametrize("event", [sqs_event(ORDER), s3_event("incoming/a.csv")], ids=["sqs", "s3"])
def test_missing_table_name_is_a_clear_error(cloud, orders, monkeypatch, value, event):
    if value is None:
        monkeypatch.delenv("TABLE_NAME")
    else:
        monkeypatch.setenv("TABLE_NAME", value)
    put_object(cloud, "incoming/a.csv", GOOD_AND_BAD_CSV)

    with pytest.raises(RuntimeError, match="environment variable TABLE_NAME is not set"):
        orders.handler(event, None)

    assert items(cloud) == []


def test_retention_days_sets_expires_at(cloud, orders, monkeypatch):
    monkeypatch.setenv("RETENTION_DAYS", "30")

    orders.handler(sqs_event(ORDER), None)

    assert get(cloud, "c-1001", "o-5001")["expires_at"] == T0 + 30 * 86400


@pytest.mark.parametrize("value", ["0", "-5", "a year", "1.5"])
def test_bad_retention_days_is_a_clear_error(cloud, orders, monkeypatch, value):
    monkeypatch.setenv("RETENTION_DAYS", value)

    with pytest.raises(RuntimeError, match="RETENTION_DAYS must be a whole number >= 1"):
        orders.handler(sqs_event(ORDER), None)


@pytest.mark.parametrize("event", [
    {},
    {"Records": []},
    {"Records": [{"eventSource": "aws:kinesis"}]},
    S3_TEST_EVENT,
])
def test_unsupported_events_raise(cloud, orders, event):
    with pytest.raises(ValueError, match="unsupported event"):
        orders.handler(event, None)
