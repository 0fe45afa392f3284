"""Loads market-data CSV files uploaded under incoming/ into DynamoDB.

Handler: ``processing.handler``. Triggered by an S3 ``ObjectCreated`` notification on ``incoming/*.csv``;
the same S3 event also arrives wrapped in an SQS message (queue, DLQ redrive), an SNS notification, or a
Lambda on-failure destination record (``requestPayload``), and each form is unwrapped. ``s3:TestEvent``
messages are ignored.

CSV format: UTF-8 (a BOM is fine), a header row, then one trade/quote per line. Header names are matched
case-insensitively; extra columns are ignored. Required columns:

    symbol     1-12 characters of A-Z 0-9 . - (upper-cased before checking), e.g. AAPL, BRK.B
    timestamp  ISO-8601, e.g. 2024-03-01T14:30:00Z or 2024-03-01T09:30:00-05:00 (without an offset it
               is taken as UTC; at most microsecond precision), or Unix epoch seconds in plain notation,
               e.g. 1709303400 or 1709303400.123456 (up to 38 significant digits). A value that is a
               plain number is always epoch seconds, so 20240301 is 1970-08-23, not a basic-format
               date. Either way it must lie from 0 (1970-01-01T00:00:00Z) up to the end of year 9999
               (below 253402300800).
    price      positive decimal in plain notation, e.g. 101.37
    volume     non-negative integer

Each good row becomes one item keyed by symbol (partition, S) and timestamp (sort, N), with timestamp, price
and volume as Decimal (never float), plus source_key (where the file ended up) and ingested_at (UTC
ISO-8601 text). timestamp is the instant in epoch seconds, computed with integer arithmetic so that
sub-second digits stay exact: 2024-03-01T14:30:00.123456Z becomes Decimal("1709303400.123456"),
2024-03-01T14:30:00Z becomes Decimal("1709303400"). Trailing zeros after the decimal point are dropped
(1709303400.500 is stored as 1709303400.5), so the same instant always has the same stored key. A later
row with the same symbol and timestamp (the same instant, however written) overwrites the earlier one.
Blank lines are skipped.

Afterwards the object moves (copy, then delete) from INCOMING_PREFIX to PROCESSED_PREFIX. Rejected rows are
listed with their line numbers and reasons in a JSON report under REJECTED_PREFIX, at the file's relative
path plus ``.errors.json``; good rows of the same file are still written. A file that cannot be read as a
whole (not UTF-8, no header, a required column missing, a CSV error) or whose rows are all rejected is
moved to REJECTED_PREFIX instead, next to its report, and nothing is written from it.

Environment:
    DYNAMODB_TABLE_NAME  DynamoDB table (required)
    S3_BUCKET_NAME     the data bucket (required); events of any other bucket are skipped
    INCOMING_PREFIX    default incoming/
    PROCESSED_PREFIX   default processed/
    REJECTED_PREFIX    default rejected/
    KMS_KEY_ID         optional; when set, moved objects and reports are written with SSE-KMS under this key

Returns {"files", "written", "rejected", "files_rejected"}: files handled, rows written (a row that
overwrites an earlier one of the same key counts), rows rejected, files rejected as a whole. Each file also
logs one JSON line. AWS errors other than a source object that is already gone propagate, so that Lambda
retries and the dead-letter queue see them.
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

REQUIRED_COLUMNS = ("symbol", "timestamp", "price", "volume")
SYMBOL_RE = re.compile(r"[A-Z0-9.\-]{1,12}")
PRICE_RE = re.compile(r"\d+(\.\d+)?")
VOLUME_RE = re.compile(r"\d+")
EPOCH_SECONDS_RE = re.compile(r"-?\d+(\.\d+)?")  # the sign only so that -5 reads as out of range
MAX_DIGITS = 38  # DynamoDB numbers hold at most 38 significant digits
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Timestamps lie in [0, END_OF_YEAR_9999): 1970-01-01T00:00:00Z up to 9999-12-31T23:59:59.999999...Z.
END_OF_YEAR_9999 = 253402300800  # 10000-01-01T00:00:00Z in epoch seconds
MAX_REPORTED_ERRORS = 1000

s3 = boto3.client("s3")
dynamodb = boto3.resource("dynamodb")


class FileRejected(Exception):
    """The file as a whole cannot be loaded."""


def handler(event, context):
    summary = {"files": 0, "written": 0, "rejected": 0, "files_rejected": 0}
    for bucket, key in s3_objects(event):
        result = process_object(bucket, key)
        if result is None:
            continue
        summary["files"] += 1
        summary["written"] += result["written"]
        summary["rejected"] += result["rejected"]
        summary["files_rejected"] += int(result["status"] == "file_rejected")
    return summary


def s3_objects(event):
    """Yields (bucket, key) of every S3 record in the event, unwrapping SQS, SNS and destination records."""
    if not isinstance(event, dict):
        return
    if event.get("Event") == "s3:TestEvent":
        return
    if "requestPayload" in event:
        yield from s3_objects(event["requestPayload"])
        return
    for record in event.get("Records") or []:
        if "s3" in record:
            if not record.get("eventName", "ObjectCreated").startswith("ObjectCreated"):
                continue
            yield record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])
        elif record.get("eventSource") == "aws:sqs":
            yield from s3_objects(_parse_json(record.get("body"), "SQS message body"))
        elif "Sns" in record:
            yield from s3_objects(_parse_json(record["Sns"].get("Message"), "SNS message"))
        else:
            log({"status": "skipped", "reason": "not an S3 record", "eventSource": record.get("eventSource")})


def _parse_json(text, what):
    try:
        message = json.loads(text or "")
    except ValueError:
        # Retrying cannot fix a message that is not JSON; log it rather than fail the whole batch.
        log({"status": "skipped", "reason": f"{what} is not JSON"})
        return None
    if isinstance(message, dict) and message.get("Type") == "Notification" and "Message" in message:
        return _parse_json(message["Message"], "SNS message")  # SNS to SQS without raw delivery
    return message


def process_object(bucket, key):
    incoming = os.environ.get("INCOMING_PREFIX", "incoming/")
    if bucket != os.environ["S3_BUCKET_NAME"]:
        log({"status": "skipped", "reason": "not the data bucket", "bucket": bucket, "key": key})
        return None
    if not key.startswith(incoming):
        # Acting on our own processed/ or rejected/ objects would loop if the notification filter is wrong.
        log({"status": "skipped", "reason": f"key is not under {incoming}", "bucket": bucket, "key": key})
        return None
    relative = key[len(incoming):]
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("NoSuchKey", "404"):
            raise
        # S3 delivers events at least once; a repeated event finds the object already moved.
        log({"status": "skipped", "reason": "object no longer exists", "bucket": bucket, "key": key})
        return None

    errors = []
    try:
        items = parse_csv(body, errors)
    except FileRejected as reason:
        file_error = str(reason)
        items = []
    else:
        file_error = None if items or not errors else "every row was rejected"

    if file_error:
        destination = os.environ.get("REJECTED_PREFIX", "rejected/") + relative
        status = "file_rejected"
    else:
        destination = os.environ.get("PROCESSED_PREFIX", "processed/") + relative
        status = "processed"
        write_items(items, destination)

    if errors or file_error:
        write_report(bucket, key, destination, relative, len(items), errors, file_error)
    move(bucket, key, destination)

    result = {"status": status, "written": len(items), "rejected": len(errors)}
    log({**result, "bucket": bucket, "key": key, "moved_to": destination,
         **({"error": file_error} if file_error else {})})
    return result


def parse_csv(body: bytes, errors: list) -> list:
    """Returns the items of the good rows; appends {"line", "reason"} for each bad row to errors."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileRejected(f"file is not UTF-8 text (byte {error.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise FileRejected("file has no header row")
        columns = [cell.strip().lower() for cell in header]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise FileRejected(f"header lacks required column(s): {', '.join(missing)}")
        duplicated = sorted({name for name in REQUIRED_COLUMNS if columns.count(name) > 1})
        if duplicated:
            raise FileRejected(f"header repeats column(s): {', '.join(duplicated)}")
        positions = {name: columns.index(name) for name in REQUIRED_COLUMNS}

        items = []
        ingested_at = now_iso()
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            try:
                if len(cells) > len(columns):
                    raise ValueError(f"{len(cells)} fields but the header has {len(columns)}")
                values = {name: cells[pos].strip() if pos < len(cells) else ""
                          for name, pos in positions.items()}
                item = to_item(values)
            except ValueError as reason:
                errors.append({"line": reader.line_num, "reason": str(reason)})
                continue
            item["ingested_at"] = ingested_at
            items.append(item)
        return items
    except csv.Error as error:
        raise FileRejected(f"malformed CSV at line {reader.line_num}: {error}") from None


def to_item(values: dict) -> dict:
    """Validates one row's required values; raises ValueError naming the first problem."""
    for name in REQUIRED_COLUMNS:
        if not values[name]:
            raise ValueError(f"missing {name}")
    symbol = values["symbol"].upper()
    if not SYMBOL_RE.fullmatch(symbol):
        raise ValueError(f"symbol {_show(values['symbol'])} is not 1-12 of A-Z 0-9 . -")
    return {
        "symbol": symbol,
        "timestamp": parse_timestamp(values["timestamp"]),
        "price": parse_price(values["price"]),
        "volume": parse_volume(values["volume"]),
    }


def parse_timestamp(text: str) -> Decimal:
    """Epoch seconds of an ISO-8601 or epoch-seconds value, exact: no float on the way."""
    if EPOCH_SECONDS_RE.fullmatch(text):
        plain = text.rstrip("0").rstrip(".") if "." in text else text
        seconds = Decimal(plain)  # exact: Decimal() of a string never rounds
        if len(seconds.as_tuple().digits) > MAX_DIGITS:
            raise ValueError(f"timestamp {_show(text)} has more than {MAX_DIGITS} digits")
    else:
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError(f"timestamp {_show(text)} is neither ISO-8601 nor epoch seconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        delta = moment - EPOCH  # exact: whole days, seconds (0-86399) and microseconds (0-999999)
        whole, micro = delta.days * 86400 + delta.seconds, delta.microseconds
        seconds = Decimal(f"{whole}.{micro:06d}".rstrip("0")) if micro and whole >= 0 else Decimal(whole)
    if not 0 <= seconds < END_OF_YEAR_9999:
        raise ValueError(f"timestamp {_show(text)} is out of range (1970-01-01 to the end of 9999)")
    return seconds if seconds else Decimal(0)  # -0 and 0.000 are the key 0


def parse_price(text: str) -> Decimal:
    # A regex first: Decimal() would also take "NaN", "Infinity", "1e5" and "1_000".
    if not PRICE_RE.fullmatch(text):
        raise ValueError(f"price {_show(text)} is not a positive decimal")
    price = Decimal(text)
    if price <= 0:
        raise ValueError(f"price {_show(text)} is not positive")
    if len(price.as_tuple().digits) > MAX_DIGITS:
        raise ValueError(f"price {_show(text)} has more than {MAX_DIGITS} digits")
    return price


def parse_volume(text: str) -> Decimal:
    if not VOLUME_RE.fullmatch(text):
        raise ValueError(f"volume {_show(text)} is not a non-negative integer")
    volume = Decimal(text)
    if len(volume.as_tuple().digits) > MAX_DIGITS:
        raise ValueError(f"volume {_show(text)} has more than {MAX_DIGITS} digits")
    return volume


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def write_items(items: list, source_key: str) -> None:
    table = dynamodb.Table(os.environ["DYNAMODB_TABLE_NAME"])
    # overwrite_by_pkeys drops an earlier duplicate key from the pending batch, which DynamoDB would refuse.
    with table.batch_writer(overwrite_by_pkeys=["symbol", "timestamp"]) as batch:
        for item in items:
            batch.put_item(Item={**item, "source_key": source_key})


def write_report(bucket, key, destination, relative, written, errors, file_error) -> None:
    report = {
        "bucket": bucket,
        "source_key": key,
        "moved_to": destination,
        "rows_written": written,
        "rows_rejected": len(errors),
        "file_error": file_error,
        "errors": errors[:MAX_REPORTED_ERRORS],
        "errors_truncated": len(errors) > MAX_REPORTED_ERRORS,
        "created_at": now_iso(),
    }
    report_key = os.environ.get("REJECTED_PREFIX", "rejected/") + relative + ".errors.json"
    s3.put_object(Bucket=bucket, Key=report_key, Body=json.dumps(report, indent=2).encode(),
                  ContentType="application/json", **encryption_args())


def move(bucket, key, destination) -> None:
    s3.copy_object(Bucket=bucket, Key=destination, CopySource={"Bucket": bucket, "Key": key},
                   MetadataDirective="COPY", **encryption_args())
    s3.delete_object(Bucket=bucket, Key=key)


def encryption_args() -> dict:
    key_id = os.environ.get("KMS_KEY_ID")
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id} if key_id else {}


def now_iso() -> str:
    return iso_utc(datetime.now(timezone.utc))


def iso_utc(moment: datetime) -> str:
    # A fixed width (always microseconds) keeps lexicographic order equal to time order.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def log(fields: dict) -> None:
    print(json.dumps(fields, default=str))
