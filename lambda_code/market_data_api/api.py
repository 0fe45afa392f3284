"""Upload and status API of the market-data environment (API Gateway REST, Lambda proxy, payload 1.0).

Handlers:
    api.upload_handler   POST /upload[?filename=NAME.csv]
        The body is a CSV file (base64 when isBase64Encoded, i.e. when text/csv is a binary media type).
        It must be UTF-8 text whose header row has the columns symbol, timestamp, price and volume (the
        processing Lambda's required columns). It is stored as incoming/<filename> in BUCKET_NAME, where
        the processing Lambda picks it up. filename is reduced to its last path part and to the characters
        A-Z a-z 0-9 . _ -, and must end in .csv (an upper-case .CSV is lowered so that the bucket
        notification's .csv suffix filter matches); without it a UUID name is used. An existing object of
        that name is not overwritten.
        201 {"bucket", "key"}; 400 empty body, not CSV text, bad filename; 409 name already waiting in
        incoming/; 413 body over 6 MiB.

    api.status_handler   GET /status/{symbol}[?limit=N]
        Without limit: the latest item of the symbol as a JSON object. With limit (1-100): {"symbol",
        "items"}, the latest N items, newest first (the sort key timestamp is a number, so DynamoDB
        orders it numerically, i.e. by time). The symbol is upper-cased before it is checked.
        200; 400 bad symbol or limit; 404 no data for the symbol.
        DynamoDB numbers come back as Decimal. To keep them exact, price is returned as a decimal string
        ("101.37", as a float it could read 101.36999999999999) and volume as an integer; any other
        number attribute becomes an integer when integral and a decimal string otherwise.
        timestamp (epoch seconds) is always returned as a decimal string in plain notation, integral or
        not: "1709303400", "1709303400.123456". One type for every item, and exact: a JSON number with
        that many digits would lose the sub-second part in float-based parsers (JavaScript, Python's
        float). Each item also gets a "time" field for people: the same instant as UTC ISO-8601 with
        microseconds, "2024-03-01T14:30:00.123456Z" (digits beyond microseconds are cut off there; the
        exact value is timestamp); null if timestamp is not a number in datetime's range.

Every response is {"statusCode", "headers": {"Content-Type": "application/json"}, "body": JSON}; errors
are {"error": "..."}. AWS errors are not caught: the invocation fails, API Gateway answers 502, and the
failure counts in the function's Errors metric.

Environment:
    BUCKET_NAME      upload bucket (upload_handler)
    KMS_KEY_ID       optional; uploads are stored with SSE-KMS under this key (upload_handler)
    INCOMING_PREFIX  default incoming/ (upload_handler)
    TABLE_NAME       market-data table, symbol (partition, S) / timestamp (sort, N: epoch seconds)
                     (status_handler)
"""
from __future__ import annotations

import base64
import binascii
import csv
import json
import os
import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, Decimal, localcontext

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

MAX_UPLOAD_BYTES = 6 * 1024 * 1024
# Must match REQUIRED_COLUMNS of lambda_code/market_data_processing/processing.py.
REQUIRED_COLUMNS = ("symbol", "timestamp", "price", "volume")
SYMBOL_RE = re.compile(r"[A-Z0-9.\-]{1,12}")
UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")
MAX_FILENAME_LENGTH = 200
MAX_LIMIT = 100
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

s3 = boto3.client("s3")
dynamodb = boto3.resource("dynamodb")


def upload_handler(event, context):
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return error(400, "body is not valid base64")
    else:
        body = raw.encode("utf-8")
    if not body:
        return error(400, "empty body: send the CSV file as the request body")
    if len(body) > MAX_UPLOAD_BYTES:
        return error(413, f"body is {len(body)} bytes; the limit is {MAX_UPLOAD_BYTES}")
    problem = csv_problem(body)
    if problem:
        return error(400, problem)

    filename = (event.get("queryStringParameters") or {}).get("filename")
    if filename is None:
        filename = f"{uuid.uuid4().hex}.csv"
    else:
        filename = sanitise_filename(filename)
        if filename is None:
            return error(400, "filename must be a name ending in .csv")

    bucket = os.environ["BUCKET_NAME"]
    key = os.environ.get("INCOMING_PREFIX", "incoming/") + filename
    extra = {}
    if os.environ.get("KMS_KEY_ID"):
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": os.environ["KMS_KEY_ID"]}
    try:
        # IfNoneMatch: a second upload of the same name must not replace one that is not processed yet.
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv", IfNoneMatch="*", **extra)
    except ClientError as failure:
        if failure.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
            return error(409, f"{key} already exists and has not been processed yet")
        raise
    print(json.dumps({"status": "uploaded", "bucket": bucket, "key": key, "bytes": len(body)}))
    return response(201, {"bucket": bucket, "key": key})


def csv_problem(body: bytes) -> str | None:
    """Returns why the body is not a market-data CSV file, or None."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "body is not UTF-8 text"
    if "\x00" in text:
        return "body is not text"
    first_line = text.partition("\n")[0].rstrip("\r")
    header = [cell.strip().lower() for cell in next(csv.reader([first_line]), [])]
    if not any(header):
        return "body has no CSV header line"
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        return f"CSV header lacks required column(s): {', '.join(missing)}"
    return None


def sanitise_filename(name: str) -> str | None:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = UNSAFE_FILENAME_CHARS.sub("_", name).lstrip(".")
    if len(name) > MAX_FILENAME_LENGTH or len(name) <= len(".csv") or not name.lower().endswith(".csv"):
        return None
    return name[: -len(".csv")] + ".csv"


def status_handler(event, context):
    symbol = ((event.get("pathParameters") or {}).get("symbol") or "").strip().upper()
    if not SYMBOL_RE.fullmatch(symbol):
        return error(400, "symbol must be 1-12 of A-Z 0-9 . -")
    limit_text = (event.get("queryStringParameters") or {}).get("limit")
    limit = 1
    if limit_text is not None:
        if not re.fullmatch(r"[0-9]{1,3}", limit_text) or not 1 <= int(limit_text) <= MAX_LIMIT:
            return error(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(limit_text)

    table = dynamodb.Table(os.environ["TABLE_NAME"])
    items = table.query(KeyConditionExpression=Key("symbol").eq(symbol), ScanIndexForward=False,
                        Limit=limit)["Items"]
    if not items:
        return error(404, f"no market data for {symbol}")
    if limit_text is None:
        return response(200, to_json(items[0]))
    return response(200, {"symbol": symbol, "items": [to_json(item) for item in items]})


def to_json(item: dict) -> dict:
    result = {}
    for name, value in item.items():
        if isinstance(value, Decimal):
            if name not in ("price", "timestamp") and (name == "volume" or value == value.to_integral_value()):
                value = int(value)
            else:
                value = format(value, "f")  # plain notation, never 1E+2
        result[name] = value
    if "timestamp" in item:
        result["time"] = iso_time(item["timestamp"])
    return result


def iso_time(seconds) -> str | None:
    """Epoch seconds as UTC ISO-8601 with microseconds (finer digits cut off), or None."""
    if not isinstance(seconds, Decimal) or not seconds.is_finite():
        return None
    with localcontext(prec=80):  # DynamoDB numbers have at most 38 digits: exact, no rounding
        micro = int((seconds * 1_000_000).to_integral_value(rounding=ROUND_FLOOR))
    try:
        moment = EPOCH + timedelta(microseconds=micro)
    except OverflowError:
        return None
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def response(status: int, payload) -> dict:
    headers = {"Content-Type": "application/json"}
    return {"statusCode": status, "headers": headers, "body": json.dumps(payload)}


def error(status: int, message: str) -> dict:
    return response(status, {"error": message})
