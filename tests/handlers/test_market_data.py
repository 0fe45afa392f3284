"""The market-data Lambda handlers, run in-process against moto's mock_aws with the events AWS sends."""
from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.handlers import events
from tests.handlers.events import REGION, load_handler, s3_test_event, sqs_arn

BUCKET = "market-data-dev-data"
TABLE = "market-data-dev-prices"

HEADER = "symbol,timestamp,price,volume\n"
ROW = "AAPL,2024-03-01T14:30:00Z,101.37,1\n"
GOOD_AND_BAD = (
    "symbol,timestamp,price,volume,exchange\n"
    "AAPL,2024-03-01T14:30:00Z,101.37,1500,NASDAQ\n"                  # line 2
    "msft,2024-03-01T09:30:00-05:00,415.5000,200,NASDAQ\n"            # 3: lower case, offset
    "BRK.B,2024-03-01 14:31:05.25,408.12,0,NYSE\n"                    # 4: no offset means UTC
    "IBM,2024-03-01T14:30:00Z,abc,100,NYSE\n"                         # 5: bad price
    "IBM,2024-03-01T14:30:00Z,-1.5,100,NYSE\n"                        # 6: negative price
    "\n"                                                              # 7: empty line, skipped
    "IBM,2024-03-01T14:30:00Z,0,100,NYSE\n"                           # 8: zero price
    "IBM,2024-03-01T14:30:00Z\n"                                      # 9: missing fields
    "IBM,2024-03-01T14:30:00Z,12.5,12.5,NYSE\n"                       # 10: fractional volume
    "IBM,yesterday,12.5,100,NYSE\n"                                   # 11: not ISO-8601
    "TOO_LONG_SYMBOL,2024-03-01T14:30:00Z,12.5,100,NYSE\n"            # 12: bad symbol
    ",2024-03-01T14:30:00Z,12.5,100,NYSE\n"                           # 13: missing symbol
    "IBM,2024-03-01T14:30:00Z,NaN,100,NYSE\n"                         # 14: NaN is not a price
    "IBM,2024-03-01T14:30:00Z,12.5,-3,NYSE\n"                         # 15: negative volume
    "IBM,2024-03-01T14:30:00Z,12.5,100,NYSE,extra\n"                  # 16: too many fields
    "ORCL,2024-03-01T14:32:00.123456+00:00,0.000001,99999999999,NYSE\n"  # 17
)


# --- fixtures ------------------------------------------------------------------------------------------

@pytest.fixture
def cloud(monkeypatch):
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        table = dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "symbol", "KeyType": "HASH"},
                       {"AttributeName": "timestamp", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "symbol", "AttributeType": "S"},
                                  {"AttributeName": "timestamp", "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setenv("TABLE_NAME", TABLE)
        monkeypatch.setenv("BUCKET_NAME", BUCKET)
        monkeypatch.setenv("DYNAMODB_TABLE_NAME", TABLE)
        monkeypatch.setenv("S3_BUCKET_NAME", BUCKET)
        for name in ("INCOMING_PREFIX", "PROCESSED_PREFIX", "REJECTED_PREFIX", "KMS_KEY_ID"):
            monkeypatch.delenv(name, raising=False)
        yield SimpleNamespace(s3=s3, table=table, kms=boto3.client("kms", region_name=REGION))


@pytest.fixture
def processing(cloud, monkeypatch):
    path = "lambda_code/market_data_processing/processing.py"
    return load_handler(path, "md_processing_handler", monkeypatch)


@pytest.fixture
def api(cloud, monkeypatch):
    return load_handler("lambda_code/market_data_api/api.py", "md_api_handler", monkeypatch)


# --- events --------------------------------------------------------------------------------------------

# S3 notifications for the data bucket (versioning off, so no versionId), and the processing DLQ's batches.
s3_record = partial(events.s3_record, bucket=BUCKET, configuration_id="incoming-csv")
s3_event = partial(events.s3_event, bucket=BUCKET, configuration_id="incoming-csv")
sqs_event = partial(events.sqs_event, queue_arn=sqs_arn("market-data-dev-processing-dlq"))


def put_csv(cloud, key: str, text: str | bytes) -> None:
    cloud.s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode() if isinstance(text, str) else text)


def read_json(cloud, key: str) -> dict:
    return json.loads(cloud.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def keys(cloud) -> set:
    return {o["Key"] for o in cloud.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def items(cloud) -> list:
    return sorted(cloud.table.scan(ConsistentRead=True)["Items"], key=lambda i: (i["symbol"], i["timestamp"]))


# --- processing ----------------------------------------------------------------------------------------

def test_an_event_of_another_bucket_is_skipped(cloud, processing, monkeypatch, capsys):
    put_csv(cloud, "incoming/a.csv", HEADER + ROW)
    monkeypatch.setenv("S3_BUCKET_NAME", "another-bucket")

    summary = processing.handler(s3_event("incoming/a.csv"), None)

    assert summary == {"files": 0, "written": 0, "rejected": 0, "files_rejected": 0}
    assert items(cloud) == [] and keys(cloud) == {"incoming/a.csv"}
    assert '"reason": "not the data bucket"' in capsys.readouterr().out


def test_s3_event_writes_good_rows_as_decimals_and_reports_bad_ones(cloud, processing, capsys):
    put_csv(cloud, "incoming/2024/03/01/trades.csv", GOOD_AND_BAD)

    summary = processing.handler(s3_event("incoming/2024/03/01/trades.csv"), None)

    assert summary == {"files": 1, "written": 4, "rejected": 11, "files_rejected": 0}
    stored = items(cloud)
    assert [(i["symbol"], i["timestamp"], i["price"], i["volume"]) for i in stored] == [
        ("AAPL", Decimal("1709303400"), Decimal("101.37"), Decimal(1500)),
        ("BRK.B", Decimal("1709303465.25"), Decimal("408.12"), Decimal(0)),
        ("MSFT", Decimal("1709303400"), Decimal("415.5"), Decimal(200)),
        ("ORCL", Decimal("1709303520.123456"), Decimal("0.000001"), Decimal(99999999999)),
    ]
    # Decimal == compares values; the digits stored must be exact too (no float, no trailing zeros).
    assert [str(i["timestamp"]) for i in stored] == ["1709303400", "1709303465.25", "1709303400",
                                                     "1709303520.123456"]
    aapl = stored[0]
    assert isinstance(aapl["price"], Decimal) and str(aapl["price"]) == "101.37"
    assert isinstance(aapl["timestamp"], Decimal)
    assert aapl["source_key"] == "processed/2024/03/01/trades.csv"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", aapl["ingested_at"])
    assert "exchange" not in aapl

    assert keys(cloud) == {"processed/2024/03/01/trades.csv", "rejected/2024/03/01/trades.csv.errors.json"}
    moved = cloud.s3.get_object(Bucket=BUCKET, Key="processed/2024/03/01/trades.csv")["Body"].read()
    assert moved == GOOD_AND_BAD.encode()

    report = read_json(cloud, "rejected/2024/03/01/trades.csv.errors.json")
    assert report["source_key"] == "incoming/2024/03/01/trades.csv"
    assert report["moved_to"] == "processed/2024/03/01/trades.csv"
    assert (report["rows_written"], report["rows_rejected"], report["file_error"]) == (4, 11, None)
    reasons = {e["line"]: e["reason"] for e in report["errors"]}
    assert sorted(reasons) == [5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    assert "price 'abc'" in reasons[5]
    assert "price '-1.5'" in reasons[6]
    assert "not positive" in reasons[8]
    assert reasons[9] == "missing price"
    assert "volume '12.5'" in reasons[10]
    assert "timestamp 'yesterday'" in reasons[11]
    assert "symbol 'TOO_LONG_SYMBOL'" in reasons[12]
    assert reasons[13] == "missing symbol"
    assert "price 'NaN'" in reasons[14]
    assert "volume '-3'" in reasons[15]
    assert "6 fields" in reasons[16]

    log_lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert log_lines == [{"status": "processed", "written": 4, "rejected": 11, "bucket": BUCKET,
                          "key": "incoming/2024/03/01/trades.csv",
                          "moved_to": "processed/2024/03/01/trades.csv"}]


def test_clean_file_leaves_no_report(cloud, processing):
    put_csv(cloud, "incoming/clean.csv", "Symbol, Timestamp ,PRICE,Volume\r\n" + ROW.replace("\n", "\r\n"))

    assert processing.handler(s3_event("incoming/clean.csv"), None)["written"] == 1

    assert keys(cloud) == {"processed/clean.csv"}


@pytest.mark.parametrize("wrap", ["sqs", "sqs+sns", "on-failure destination"])
def test_s3_event_wrapped_in_a_queue_message(cloud, processing, wrap):
    put_csv(cloud, "incoming/a.csv", HEADER + ROW)
    put_csv(cloud, "incoming/b.csv", "symbol,timestamp,price,volume\nMSFT,2024-03-01T14:30:00Z,415.5,2\n")
    inner = s3_event("incoming/a.csv", "incoming/b.csv")
    if wrap == "sqs":
        event = sqs_event(inner)
    elif wrap == "sqs+sns":
        event = sqs_event({"Type": "Notification", "MessageId": "x", "Message": json.dumps(inner)})
    else:
        event = sqs_event({"version": "1.0", "requestContext": {"condition": "RetriesExhausted",
                                                                "approximateInvokeCount": 3},
                           "requestPayload": inner, "responsePayload": {"errorMessage": "timeout"}})

    assert processing.handler(event, None) == {"files": 2, "written": 2, "rejected": 0, "files_rejected": 0}
    assert [i["symbol"] for i in items(cloud)] == ["AAPL", "MSFT"]
    assert keys(cloud) == {"processed/a.csv", "processed/b.csv"}


def test_s3_test_event_is_ignored(cloud, processing):
    test_event = s3_test_event(BUCKET)

    assert processing.handler(test_event, None)["files"] == 0
    assert processing.handler(sqs_event(test_event), None)["files"] == 0


def test_url_encoded_key_with_spaces(cloud, processing):
    key = "incoming/Q1 2024/prices+fx (final) 100%.csv"
    put_csv(cloud, key, "symbol,timestamp,price,volume\nEURUSD,2024-03-01T14:30:00Z,1.08515,1000000\n")
    event = s3_event(key)
    assert event["Records"][0]["s3"]["object"]["key"] == "incoming/Q1+2024/prices%2Bfx+%28final%29+100%25.csv"

    assert processing.handler(event, None)["written"] == 1

    assert keys(cloud) == {"processed/Q1 2024/prices+fx (final) 100%.csv"}
    assert items(cloud)[0]["price"] == Decimal("1.08515")


def test_large_file_is_written_in_batches_of_25_and_duplicates_keep_the_last_row(cloud, processing):
    rows = [f"SYM{i % 6},2024-03-01T14:{i // 60:02d}:{i % 60:02d}Z,{100 + i}.{i:02d},{i}" for i in range(120)]
    rows.append("SYM5,2024-03-01T14:01:59Z,999.99,7")  # same key as row 119, in the same batch
    put_csv(cloud, "incoming/big.csv", "symbol,timestamp,price,volume\n" + "\n".join(rows) + "\n")
    batch_sizes = []
    processing.dynamodb.meta.client.meta.events.register(
        "before-parameter-build.dynamodb.BatchWriteItem",
        lambda params, **_: batch_sizes.append(len(params["RequestItems"][TABLE])))

    summary = processing.handler(s3_event("incoming/big.csv"), None)

    assert summary == {"files": 1, "written": 121, "rejected": 0, "files_rejected": 0}
    stored = items(cloud)
    assert len(stored) == 120
    # DynamoDB refuses a batch holding a key twice (moto does not), so check the batch writer dropped one.
    assert batch_sizes == [25, 25, 25, 25, 20]
    first = cloud.table.get_item(Key={"symbol": "SYM0", "timestamp": Decimal(1709301600)})["Item"]
    assert (first["price"], first["volume"]) == (Decimal("100.00"), Decimal(0))
    last = cloud.table.get_item(Key={"symbol": "SYM5", "timestamp": Decimal(1709301719)})["Item"]
    assert (last["price"], last["volume"]) == (Decimal("999.99"), Decimal(7))


@pytest.mark.parametrize("text, seconds", [
    ("2024-03-01T14:30:00.123456Z", "1709303400.123456"),
    ("2024-03-01T14:30:00Z", "1709303400"),
    ("2024-03-01T14:30:00.500000Z", "1709303400.5"),
    ("2024-03-01T15:30:00.000001+01:00", "1709303400.000001"),
    ("2024-03-01T14:30:00.1234567Z", "1709303400.123456"),        # Python reads at most microseconds
    ("1970-01-01T00:00:00Z", "0"),
    ("1970-01-01T00:00:00.000001Z", "0.000001"),
    # 18 digits: float would give 253402300800.0 (and then an out-of-range key).
    ("9999-12-31T23:59:59.999999Z", "253402300799.999999"),
    ("9999-12-31T23:59:59.999999", "253402300799.999999"),          # no offset: UTC
    ("1709303400", "1709303400"),                                   # epoch seconds
    ("1709303400.123456", "1709303400.123456"),
    ("1709303400.500", "1709303400.5"),                              # one key per instant
    ("1709303400.000", "1709303400"),
    ("0001709303400", "1709303400"),
    ("1709303400.1234567890123456789012345678", "1709303400.1234567890123456789012345678"),  # 38 digits
    ("0", "0"), ("0.000", "0"), ("-0", "0"),
    ("253402300799.999999999", "253402300799.999999999"),
    ("20240301", "20240301"),                                       # a plain number is epoch seconds
])
def test_timestamp_becomes_exact_epoch_seconds(processing, text, seconds):
    value = processing.parse_timestamp(text)

    assert isinstance(value, Decimal)
    assert str(value) == seconds  # the exact digits, not only an equal value


@pytest.mark.parametrize("text, reason", [
    ("-1", "out of range"),
    ("-0.000001", "out of range"),
    ("253402300800", "out of range"),                               # 10000-01-01T00:00:00Z
    ("99999999999999999999", "out of range"),
    ("1969-12-31T23:59:59.999999Z", "out of range"),
    ("9999-12-31T23:59:59-00:01", "out of range"),                 # 10000-01-01T00:00:59Z
    ("1709303400.12345678901234567890123456789", "more than 38 digits"),
    ("1.7093034E9", "neither ISO-8601 nor epoch seconds"),
    ("1709303400.", "neither ISO-8601 nor epoch seconds"),
    ("NaN", "neither ISO-8601 nor epoch seconds"),
    ("1_709_303_400", "neither ISO-8601 nor epoch seconds"),
    ("yesterday", "neither ISO-8601 nor epoch seconds"),
])
def test_bad_timestamps_are_rejected(processing, text, reason):
    with pytest.raises(ValueError) as raised:
        processing.parse_timestamp(text)

    assert f"timestamp {text!r}" in str(raised.value)
    assert reason in str(raised.value)


def test_epoch_seconds_column_is_stored_as_the_same_number_key(cloud, processing):
    put_csv(cloud, "incoming/epoch.csv", HEADER
            + "AAPL,1709303400,101.37,1\n"                                 # line 2
            + "AAPL,2024-03-01T14:30:00.000Z,101.40,2\n"                   # 3: same instant, replaces 2
            + "AAPL,1709303400.25,101.50,3\n"
            + "AAPL,999999999,99,4\n"                                      # 2001: sorts before 2024
            + "AAPL,-5,99,5\n"                                             # 6: rejected
            + "AAPL,253402300800,99,6\n")                                  # 7: rejected

    summary = processing.handler(s3_event("incoming/epoch.csv"), None)

    assert summary == {"files": 1, "written": 4, "rejected": 2, "files_rejected": 0}
    stored = cloud.table.query(KeyConditionExpression=Key("symbol").eq("AAPL"), ScanIndexForward=False)["Items"]
    assert [(str(i["timestamp"]), i["price"]) for i in stored] == [
        ("1709303400.25", Decimal("101.50")), ("1709303400", Decimal("101.40")), ("999999999", Decimal(99))]
    report = read_json(cloud, "rejected/epoch.csv.errors.json")
    assert [(e["line"], "out of range" in e["reason"]) for e in report["errors"]] == [(6, True), (7, True)]


@pytest.mark.parametrize("body, reason", [
    (ROW, "header lacks required column(s): symbol, timestamp, price, volume"),
    ("symbol,timestamp,volume\nAAPL,2024-03-01T14:30:00Z,1500\n", "header lacks required column(s): price"),
    ("", "file has no header row"),
    ("\nsymbol,timestamp,price,volume\n", "file has no header row"),
    (HEADER.encode() + b"AAPL,2024-03-01T14:30:00Z,\xff\xfe,1\n", "file is not UTF-8 text (byte 56)"),
    ("symbol,timestamp,price,price,volume\n", "header repeats column(s): price"),
    (HEADER + "AAPL," + "x" * 200_000 + ",1,1\n",
     "malformed CSV at line 2: field larger than field limit (131072)"),
])
def test_file_without_the_required_header_is_rejected_whole(cloud, processing, body, reason):
    put_csv(cloud, "incoming/bad.csv", body)

    summary = processing.handler(s3_event("incoming/bad.csv"), None)

    assert summary == {"files": 1, "written": 0, "rejected": 0, "files_rejected": 1}
    assert items(cloud) == []
    assert keys(cloud) == {"rejected/bad.csv", "rejected/bad.csv.errors.json"}
    report = read_json(cloud, "rejected/bad.csv.errors.json")
    assert report["file_error"] == reason
    assert report["moved_to"] == "rejected/bad.csv"


def test_file_whose_rows_are_all_bad_is_rejected_whole(cloud, processing):
    put_csv(cloud, "incoming/bad.csv", "symbol,timestamp,price,volume\nAAPL,now,1,1\nAAPL,2024-03-01,x,1\n")

    summary = processing.handler(s3_event("incoming/bad.csv"), None)

    assert summary == {"files": 1, "written": 0, "rejected": 2, "files_rejected": 1}
    assert keys(cloud) == {"rejected/bad.csv", "rejected/bad.csv.errors.json"}
    report = read_json(cloud, "rejected/bad.csv.errors.json")
    assert report["file_error"] == "every row was rejected"
    assert [e["line"] for e in report["errors"]] == [2, 3]


def test_repeated_event_finds_the_object_moved_and_skips_it(cloud, processing):
    put_csv(cloud, "incoming/a.csv", HEADER + ROW)
    event = s3_event("incoming/a.csv")

    assert processing.handler(event, None)["files"] == 1
    assert processing.handler(event, None) == {"files": 0, "written": 0, "rejected": 0, "files_rejected": 0}
    assert keys(cloud) == {"processed/a.csv"}


def test_keys_outside_the_incoming_prefix_are_not_touched(cloud, processing):
    put_csv(cloud, "processed/a.csv", HEADER + ROW)

    assert processing.handler(s3_event("processed/a.csv"), None)["files"] == 0
    assert keys(cloud) == {"processed/a.csv"}
    assert items(cloud) == []


def test_prefixes_come_from_the_environment(cloud, processing, monkeypatch):
    monkeypatch.setenv("INCOMING_PREFIX", "in/")
    monkeypatch.setenv("PROCESSED_PREFIX", "done/")
    monkeypatch.setenv("REJECTED_PREFIX", "bad/")
    put_csv(cloud, "in/a.csv", HEADER + ROW + "X,now,1,1\n")

    assert processing.handler(s3_event("in/a.csv"), None)["written"] == 1
    assert keys(cloud) == {"done/a.csv", "bad/a.csv.errors.json"}


def test_moved_object_and_report_use_the_kms_key(cloud, processing, monkeypatch):
    key_arn = cloud.kms.create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("KMS_KEY_ID", key_arn)
    put_csv(cloud, "incoming/a.csv", HEADER + ROW + "X,now,1,1\n")

    processing.handler(s3_event("incoming/a.csv"), None)

    for key in ("processed/a.csv", "rejected/a.csv.errors.json"):
        head = cloud.s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_arn)


def test_aws_errors_propagate_and_leave_the_object_in_place(cloud, processing, monkeypatch):
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", "no-such-table")
    put_csv(cloud, "incoming/a.csv", HEADER + ROW)

    with pytest.raises(ClientError) as raised:
        processing.handler(s3_event("incoming/a.csv"), None)

    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert keys(cloud) == {"incoming/a.csv"}


def test_missing_bucket_propagates(cloud, processing, monkeypatch):
    monkeypatch.setenv("S3_BUCKET_NAME", "no-such-bucket")
    event = {"Records": [s3_record("incoming/a.csv", bucket="no-such-bucket")]}

    with pytest.raises(ClientError):
        processing.handler(event, None)


# --- API -----------------------------------------------------------------------------------------------

def api_event(method: str, path: str, resource: str, body=None, query=None, path_params=None,
              base64_body: bool = False) -> dict:
    """A REST API Lambda-proxy event, payload format 1.0."""
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "curl/8.5.0",
               "Content-Type": "text/csv", "X-Forwarded-For": "203.0.113.10"}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/prod{path}",
                           "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                           "accountId": "123456789012", "apiId": "abc123",
                           "identity": {"sourceIp": "203.0.113.10", "userAgent": "curl/8.5.0"}},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def upload_event(body, query=None, base64_body=False) -> dict:
    return api_event("POST", "/upload", "/upload", body=body, query=query, base64_body=base64_body)


def status_event(symbol, query=None) -> dict:
    params = None if symbol is None else {"symbol": symbol}
    return api_event("GET", f"/status/{symbol}", "/status/{symbol}", query=query, path_params=params)


def decoded(response: dict) -> tuple:
    """(statusCode, body as JSON), after checking the response shape every handler must return."""
    assert set(response) == {"statusCode", "headers", "body"}
    assert response["headers"]["Content-Type"] == "application/json"
    assert isinstance(response["body"], str)
    return response["statusCode"], json.loads(response["body"])


CSV = "symbol,timestamp,price,volume\nAAPL,2024-03-01T14:30:00Z,101.37,1500\n"


def test_upload_stores_the_csv_under_incoming(cloud, api):
    status, body = decoded(api.upload_handler(upload_event(CSV), None))

    assert status == 201
    assert body["bucket"] == BUCKET
    assert re.fullmatch(r"incoming/[0-9a-f]{32}\.csv", body["key"])
    stored = cloud.s3.get_object(Bucket=BUCKET, Key=body["key"])
    assert stored["Body"].read() == CSV.encode()
    assert stored["ContentType"] == "text/csv"
    assert "SSEKMSKeyId" not in stored


def test_upload_accepts_a_base64_body_byte_for_byte(cloud, api):
    raw = "\ufeffsymbol,timestamp,price,volume\r\nNESN.SW,2024-03-01T14:30:00+01:00,98.50,10\r\n".encode()

    event = upload_event(base64.b64encode(raw).decode(), base64_body=True)

    status, body = decoded(api.upload_handler(event, None))

    assert status == 201
    assert cloud.s3.get_object(Bucket=BUCKET, Key=body["key"])["Body"].read() == raw


def test_upload_encrypts_with_the_kms_key(cloud, api, monkeypatch):
    key_arn = cloud.kms.create_key()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("KMS_KEY_ID", key_arn)

    status, body = decoded(api.upload_handler(upload_event(CSV), None))

    assert status == 201
    head = cloud.s3.head_object(Bucket=BUCKET, Key=body["key"])
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_arn)


@pytest.mark.parametrize("event, status, message", [
    (upload_event(None), 400, "empty body"),
    (upload_event(""), 400, "empty body"),
    (upload_event("", base64_body=True), 400, "empty body"),
    (upload_event("not base64!", base64_body=True), 400, "not valid base64"),
    (upload_event(base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR").decode(), base64_body=True),
     400, "not UTF-8"),
    (upload_event("symbol,timestamp\x00,price,volume\n"), 400, "not text"),
    (upload_event("\n\nsymbol,timestamp,price,volume\n"), 400, "no CSV header"),
    (upload_event("hello world"), 400, "lacks required column(s): symbol, timestamp, price, volume"),
    (upload_event("symbol,timestamp,volume\nAAPL,2024-03-01T14:30:00Z,1\n"), 400,
     "lacks required column(s): price"),
    (upload_event(CSV + "X" * (6 * 1024 * 1024)), 413, "the limit is 6291456"),
])
def test_upload_rejects_bad_bodies(cloud, api, event, status, message):
    got_status, body = decoded(api.upload_handler(event, None))

    assert got_status == status
    assert message in body["error"]
    assert keys(cloud) == set()


def test_upload_limit_is_exactly_6_mib(cloud, api):
    body = CSV + "X" * (6 * 1024 * 1024 - len(CSV))

    assert api.upload_handler(upload_event(body), None)["statusCode"] == 201
    assert api.upload_handler(upload_event(body + "X"), None)["statusCode"] == 413


@pytest.mark.parametrize("filename, key", [
    ("prices.csv", "incoming/prices.csv"),
    ("../../etc/prices.csv", "incoming/prices.csv"),
    ("C:\\Users\\me\\Q1 prices.csv", "incoming/Q1_prices.csv"),
    ("my file (1).CSV", "incoming/my_file__1_.csv"),
    ("..hidden.csv", "incoming/hidden.csv"),
    ("ünïcødé;rm -rf.csv", "incoming/_n_c_d__rm_-rf.csv"),
])
def test_upload_filename_is_sanitised(cloud, api, filename, key):
    status, body = decoded(api.upload_handler(upload_event(CSV, query={"filename": filename}), None))

    assert (status, body["key"]) == (201, key)
    assert keys(cloud) == {key}


@pytest.mark.parametrize("filename", ["prices.txt", ".csv", "..csv", "", "csv", "a" * 250 + ".csv"])
def test_upload_rejects_filenames_that_are_not_csv_names(cloud, api, filename):
    status, body = decoded(api.upload_handler(upload_event(CSV, query={"filename": filename}), None))

    assert status == 400
    assert "filename" in body["error"]
    assert keys(cloud) == set()


def test_upload_does_not_overwrite_a_waiting_file(cloud, api):
    assert api.upload_handler(upload_event(CSV, query={"filename": "a.csv"}), None)["statusCode"] == 201
    other = "symbol,timestamp,price,volume\nMSFT,2024-03-01T14:30:00Z,415.5,2\n"

    status, body = decoded(api.upload_handler(upload_event(other, query={"filename": "a.csv"}), None))

    assert status == 409
    assert "incoming/a.csv" in body["error"]
    assert cloud.s3.get_object(Bucket=BUCKET, Key="incoming/a.csv")["Body"].read() == CSV.encode()


def put_prices(cloud, symbol: str, *rows) -> None:
    """Stores (timestamp in epoch seconds, price, volume) rows the way the processing Lambda writes them."""
    for timestamp, price, volume in rows:
        cloud.table.put_item(Item={"symbol": symbol, "timestamp": Decimal(timestamp), "price": Decimal(price),
                                   "volume": Decimal(volume), "source_key": "processed/x.csv"})


def test_status_returns_the_latest_item_with_exact_numbers(cloud, api):
    put_prices(cloud, "AAPL", ("1709303400", "101.37", 1500),                  # 2024-03-01T14:30:00Z
               ("1709303460.123456", "0.1000000000000000055511151231257827", 12345678901234567890),
               ("1709251199.999999", "99", 1))                                 # 2024-02-29T23:59:59.999999Z
    put_prices(cloud, "MSFT", ("1709337600", "415.5", 1))

    status, body = decoded(api.status_handler(status_event("AAPL"), None))

    assert status == 200
    assert body == {"symbol": "AAPL", "timestamp": "1709303460.123456", "time": "2024-03-01T14:31:00.123456Z",
                    "price": "0.1000000000000000055511151231257827", "volume": 12345678901234567890,
                    "source_key": "processed/x.csv"}


@pytest.mark.parametrize("seconds, timestamp, time", [
    ("1709303400", "1709303400", "2024-03-01T14:30:00.000000Z"),              # integral: still a string
    ("1709303400.5", "1709303400.5", "2024-03-01T14:30:00.500000Z"),
    ("0", "0", "1970-01-01T00:00:00.000000Z"),
    ("253402300799.999999", "253402300799.999999", "9999-12-31T23:59:59.999999Z"),
    ("1709303400.1234567890123456789012345678", "1709303400.1234567890123456789012345678",
     "2024-03-01T14:30:00.123456Z"),                                          # time cuts, timestamp is exact
    ("1E+2", "100", "1970-01-01T00:01:40.000000Z"),                           # plain notation
    ("9E+125", "9" + "0" * 125, None),                                        # not a datetime: time is null
])
def test_status_timestamp_is_an_exact_string_with_an_iso_time(cloud, api, seconds, timestamp, time):
    put_prices(cloud, "AAPL", (seconds, "1", 1))

    _, body = decoded(api.status_handler(status_event("AAPL"), None))

    assert (body["timestamp"], body["time"]) == (timestamp, time)
    assert Decimal(body["timestamp"]) == Decimal(seconds)


def test_status_limit_returns_the_latest_n_newest_first(cloud, api):
    put_prices(cloud, "AAPL", *[(1709301600 + 60 * m, f"{100 + m}.5", m) for m in range(10)])

    status, body = decoded(api.status_handler(status_event("aapl", {"limit": "3"}), None))

    assert status == 200
    assert body["symbol"] == "AAPL"
    assert [(i["timestamp"], i["time"], i["price"], i["volume"]) for i in body["items"]] == [
        ("1709302140", "2024-03-01T14:09:00.000000Z", "109.5", 9),
        ("1709302080", "2024-03-01T14:08:00.000000Z", "108.5", 8),
        ("1709302020", "2024-03-01T14:07:00.000000Z", "107.5", 7),
    ]
    _, everything = decoded(api.status_handler(status_event("AAPL", {"limit": "100"}), None))
    assert len(everything["items"]) == 10


def test_status_orders_by_number_not_by_text(cloud, api):
    # As text, "999999999.5" > "1709303400" > "10000000000"; as numbers (sort key type N) the reverse.
    put_prices(cloud, "AAPL", ("999999999.5", "1", 1), ("1709303400", "2", 2), ("10000000000", "3", 3))

    _, body = decoded(api.status_handler(status_event("AAPL", {"limit": "3"}), None))

    assert [i["timestamp"] for i in body["items"]] == ["10000000000", "1709303400", "999999999.5"]


def test_status_of_an_unknown_symbol_is_404(cloud, api):
    put_prices(cloud, "AAPL", ("1709303400", "101.37", 1))

    status, body = decoded(api.status_handler(status_event("ZZZZ"), None))

    assert status == 404
    assert body == {"error": "no market data for ZZZZ"}


@pytest.mark.parametrize("symbol, query", [
    ("TOO_LONG_SYMBOL", None), ("AAPL;DROP", None), ("", None), (None, None), ("A" * 13, None),
    ("AAPL", {"limit": "0"}), ("AAPL", {"limit": "101"}), ("AAPL", {"limit": "abc"}),
    ("AAPL", {"limit": "-1"}), ("AAPL", {"limit": "²"}),
])
def test_status_rejects_bad_symbols_and_limits(cloud, api, symbol, query):
    put_prices(cloud, "AAPL", ("1709303400", "101.37", 1))

    status, body = decoded(api.status_handler(status_event(symbol, query), None))

    assert status == 400
    assert "symbol" in body["error"] or "limit" in body["error"]


def test_upload_then_processing_then_status(cloud, api, processing):
    """The three handlers end to end: what a client uploads is what the status API reports."""
    csv_text = ("symbol,timestamp,price,volume\n"
                "AAPL,2024-03-01T14:30:00Z,101.37,1500\n"
                "AAPL,2024-03-01T15:30:00+01:00,101.40,5\n")
    _, uploaded = decoded(api.upload_handler(upload_event(csv_text, query={"filename": "day one.csv"}), None))
    assert uploaded["key"] == "incoming/day_one.csv"

    assert processing.handler(s3_event(uploaded["key"]), None)["written"] == 2

    status, latest = decoded(api.status_handler(status_event("AAPL"), None))
    assert status == 200
    # 15:30+01:00 is 14:30Z: the second row has the same key as the first and replaces it.
    assert (latest["timestamp"], latest["time"], Decimal(latest["price"]), latest["volume"]) == (
        "1709303400", "2024-03-01T14:30:00.000000Z", Decimal("101.40"), 5)
    stored = cloud.table.query(KeyConditionExpression=Key("symbol").eq("AAPL"))["Items"]
    assert len(stored) == 1 and stored[0]["price"] == Decimal("101.40")
    assert stored[0]["timestamp"] == Decimal(1709303400)
