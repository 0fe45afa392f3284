"""Writes shop orders into the DynamoDB ``orders`` table.

Handler: ``orders.handler`` (python3.12, boto3 and the standard library only). Two triggers:

* SQS (``orders`` queue, event source mapping with ReportBatchItemFailures). Each message body is one of
    - an order JSON object, published to the ``order-events`` topic with raw message delivery;
    - an S3 event notification for ``incoming/*.json`` in the receipts bucket; the object holds one order
      JSON object or a JSON list of them;
    - an ``s3:TestEvent``, which is ignored.
  A message fails on its own (malformed JSON, an invalid order, an AWS error) and is returned in
  ``{"batchItemFailures": [{"itemIdentifier": messageId}]}`` so only it is retried and, after the queue's
  max_receive_count, dead-lettered. A receipts object is all or nothing: if one of its orders is invalid,
  none is written.
* S3 (receipts bucket, ``incoming/*.csv``, invoked directly). The CSV has the header
  ``customer_id,order_id,status,amount,currency,created_at`` (an optional ``updated_at`` column is used
  when present, extra columns are ignored). Valid rows are written, invalid rows are listed in the log and
  in the return value ``{"written", "unchanged", "rejected": [{"row", "error"}]}``, where ``row`` is the
  line number in the file (the header is line 1). A file that cannot be read as CSV (not UTF-8, header
  without the required columns) is one rejection and nothing is written. AWS errors propagate, so that
  Lambda's async retries and the failure destination see them.

An order is valid when:
    customer_id, order_id  strings of 1-64 characters of A-Z a-z 0-9 _ -
    status                 pending, paid, shipped or cancelled
    amount                 non-negative decimal, at most 2 decimal places: a JSON number or a string such as
                           "19.99"; stored as Decimal, never float
    currency               3 upper-case letters, e.g. EUR
    created_at             epoch seconds (integer) or ISO-8601 (no offset means UTC); stored as epoch
                           seconds (N), which the ``by-status`` index sorts on
    updated_at             optional, same forms as created_at, defaults to created_at
Each item also gets ``expires_at`` (the table's TTL) = created_at + RETENTION_DAYS days.

Write rule: put_item only if the order is new or its stored ``updated_at`` (epoch seconds, N) is strictly
older than the incoming one. A replay (same updated_at) or an older version fails the condition and counts
as "unchanged", not as an error. Producers must therefore send a later ``updated_at`` with each status
change; two versions with the same ``updated_at`` keep whichever was written first.

Environment:
    TABLE_NAME      DynamoDB table (required)
    RETENTION_DAYS  days until expires_at, default 365

Every invocation logs one JSON line with its counts.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import ClientError

STATUSES = ("pending", "paid", "shipped", "cancelled")
CSV_COLUMNS = ("customer_id", "order_id", "status", "amount", "currency", "created_at")
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
AMOUNT_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
CURRENCY_RE = re.compile(r"[A-Z]{3}")
EPOCH_RE = re.compile(r"[0-9]+")
# 9999-12-31T23:59:59Z. It also rejects epoch milliseconds sent by mistake.
MAX_EPOCH = 253402300799
# With 2 decimal places this keeps amounts within DynamoDB's 38 significant digits.
MAX_AMOUNT_INTEGER_DIGITS = 36
MAX_LOGGED_ERRORS = 100
WRITE_CONDITION = "attribute_not_exists(order_id) OR updated_at < :updated_at"

s3 = boto3.client("s3")
dynamodb = boto3.resource("dynamodb")


class InvalidOrder(ValueError):
    """An order, or the message or file holding it, that retrying cannot fix."""


def handler(event, context):
    table = dynamodb.Table(table_name())
    retention = retention_seconds()
    records = (event.get("Records") if isinstance(event, dict) else None) or []
    source = records[0].get("eventSource") if records else None
    if source == "aws:sqs":
        return handle_sqs(records, table, retention)
    if source == "aws:s3":
        return handle_s3(records, table, retention)
    raise ValueError(f"unsupported event: expected SQS or S3 records, got eventSource {source!r}")


def table_name() -> str:
    name = os.environ.get("TABLE_NAME", "").strip()
    if not name:
        raise RuntimeError("environment variable TABLE_NAME is not set; it must name the orders table")
    return name


def retention_seconds() -> int:
    text = (os.environ.get("RETENTION_DAYS") or "365").strip()
    if not EPOCH_RE.fullmatch(text) or int(text) < 1:
        raise RuntimeError(f"environment variable RETENTION_DAYS must be a whole number >= 1, got {text!r}")
    return int(text) * 86400


# --- SQS -----------------------------------------------------------------------------------------------

def handle_sqs(records: list, table, retention: int) -> dict:
    stats = {"written": 0, "unchanged": 0, "ignored": 0}
    failures = []
    for record in records:
        try:
            process_message(record["body"], table, retention, stats)
        except Exception as error:
            # Whatever went wrong, only this message is retried; the rest of the batch is done.
            failures.append({"messageId": record["messageId"], "error": describe(error)})
    log({"source": "sqs", "messages": len(records), **stats, "failed": len(failures),
         "failures": failures[:MAX_LOGGED_ERRORS]})
    return {"batchItemFailures": [{"itemIdentifier": failure["messageId"]} for failure in failures]}


def process_message(body: str, table, retention: int, stats: dict) -> None:
    message = parse_json(body, "message body")
    if isinstance(message, dict) and message.get("Event") == "s3:TestEvent":
        stats["ignored"] += 1
        return
    if isinstance(message, dict) and "Records" in message:
        items = []
        for record in message["Records"]:
            if record.get("eventName", "").startswith("ObjectCreated"):
                bucket = record["s3"]["bucket"]["name"]
                items += receipt_items(bucket, unquote_plus(record["s3"]["object"]["key"]), retention)
    else:
        items = [to_item(message, retention)]
    write(table, items, stats)


def receipt_items(bucket: str, key: str, retention: int) -> list:
    """Reads and validates every order of a receipts JSON object before any of them is written."""
    where = f"s3://{bucket}/{key}"
    data = parse_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), where)
    if not isinstance(data, list):
        data = [data]
    items = []
    for index, order in enumerate(data):
        try:
            items.append(to_item(order, retention))
        except InvalidOrder as error:
            raise InvalidOrder(f"{where} order {index}: {error}") from None
    return items


def parse_json(text, what: str):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidOrder(f"{what} is not UTF-8 text") from None
    try:
        # Decimal keeps amounts exact; NaN and Infinity are not JSON and not amounts.
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError as error:
        raise InvalidOrder(f"{what} is not valid JSON: {error}") from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


# --- S3 ------------------------------------------------------------------------------------------------

def handle_s3(records: list, table, retention: int) -> dict:
    stats = {"written": 0, "unchanged": 0}
    rejected = []
    objects = []
    for record in records:
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        objects.append(f"s3://{bucket}/{key}")
        rows, errors = read_csv(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        rejected += errors
        items = []
        for row, values in rows:
            try:
                items.append(to_item(values, retention))
            except InvalidOrder as error:
                rejected.append({"row": row, "error": str(error)})
        write(table, items, stats)
    rejected.sort(key=lambda rejection: rejection["row"])
    log({"source": "s3", "objects": objects, **stats, "rejected": len(rejected),
         "rejections": rejected[:MAX_LOGGED_ERRORS]})
    return {**stats, "rejected": rejected}


def read_csv(body: bytes) -> tuple[list, list]:
    """Returns ([(line number, {column: value})], [rejection]) for the data rows of a CSV file."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = body[:error.start].count(b"\n") + 1
        return [], [{"row": line, "error": "file is not UTF-8 text; nothing was loaded"}]
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, rejected = [], []
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [name for name in CSV_COLUMNS if name not in header]
        if missing:
            error = f"header lacks column(s) {', '.join(missing)}; nothing was loaded"
            return [], [{"row": 1, "error": error}]
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                rejected.append({"row": reader.line_num,
                                 "error": f"{len(cells)} fields but the header has {len(header)}"})
                continue
            values = {name: cell.strip() for name, cell in zip(header, cells, strict=True)}
            rows.append((reader.line_num, values))
    except csv.Error as error:
        error_text = f"malformed CSV ({error}); the rest of the file was not loaded"
        rejected.append({"row": reader.line_num, "error": error_text})
    return rows, rejected


# --- orders --------------------------------------------------------------------------------------------

def to_item(order, retention: int) -> dict:
    """Validates one order (a JSON object or a CSV row) and returns the item to store."""
    if not isinstance(order, dict):
        raise InvalidOrder(f"order is a JSON {type(order).__name__}, not an object")
    for name in CSV_COLUMNS:
        if order.get(name) in (None, ""):
            raise InvalidOrder(f"missing {name}")
    created_at = parse_epoch(order["created_at"], "created_at")
    updated_at = order.get("updated_at")
    return {
        "customer_id": parse_id(order["customer_id"], "customer_id"),
        "order_id": parse_id(order["order_id"], "order_id"),
        "status": parse_status(order["status"]),
        "amount": parse_amount(order["amount"]),
        "currency": parse_currency(order["currency"]),
        "created_at": created_at,
        "updated_at": created_at if updated_at in (None, "") else parse_epoch(updated_at, "updated_at"),
        "expires_at": created_at + retention,
    }


def parse_id(value, name: str) -> str:
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise InvalidOrder(f"{name} {show(value)} is not 1-64 characters of A-Z a-z 0-9 _ -")
    return value


def parse_status(value) -> str:
    if value not in STATUSES:
        raise InvalidOrder(f"status {show(value)} is not one of {', '.join(STATUSES)}")
    return value


def parse_amount(value) -> Decimal:
    # A regex for strings: Decimal() would also take "NaN", "1e5", " 1" and "1_000".
    if isinstance(value, str) and AMOUNT_RE.fullmatch(value):
        amount = Decimal(value)
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        amount = Decimal(value)
    else:
        raise InvalidOrder(f"amount {show(value)} is not a non-negative decimal")
    if amount < 0:
        raise InvalidOrder(f"amount {show(value)} is negative")
    if amount.as_tuple().exponent < -2:
        raise InvalidOrder(f"amount {show(value)} has more than 2 decimal places")
    if amount.adjusted() >= MAX_AMOUNT_INTEGER_DIGITS:
        raise InvalidOrder(f"amount {show(value)} is too large")
    return amount.copy_abs()  # -0 from JSON becomes 0


def parse_currency(value) -> str:
    if not isinstance(value, str) or not CURRENCY_RE.fullmatch(value):
        raise InvalidOrder(f"currency {show(value)} is not 3 upper-case letters")
    return value


def parse_epoch(value, name: str) -> int:
    """Epoch seconds from an integer, a string of digits or an ISO-8601 string; fractions are dropped."""
    if isinstance(value, str) and EPOCH_RE.fullmatch(value):
        seconds = int(value)
    elif isinstance(value, str):
        try:
            # Python 3.10 does not read a Z suffix.
            moment = datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", value))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            seconds = int(moment.timestamp())
        except (ValueError, OverflowError):
            raise InvalidOrder(f"{name} {show(value)} is not epoch seconds or ISO-8601") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        raise InvalidOrder(f"{name} {show(value)} is not epoch seconds (an integer) or ISO-8601")
    if not 0 <= seconds <= MAX_EPOCH:
        raise InvalidOrder(f"{name} {show(value)} is out of range (epoch seconds 0-{MAX_EPOCH})")
    return seconds


def show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


# --- DynamoDB ------------------------------------------------------------------------------------------

def write(table, items: list, stats: dict) -> None:
    for item in items:
        stats["written" if put_order(table, item) else "unchanged"] += 1


def put_order(table, item: dict) -> bool:
    """Writes the item unless the stored version is as new or newer; returns whether it was written."""
    try:
        table.put_item(Item=item, ConditionExpression=WRITE_CONDITION,
                       ExpressionAttributeValues={":updated_at": item["updated_at"]})
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def describe(error: Exception) -> str:
    return str(error) if isinstance(error, InvalidOrder) else f"{type(error).__name__}: {error}"


def log(fields: dict) -> None:
    print(json.dumps(fields, default=str))
