"""What the user, order and product services share (not a handler); they import it as ``service``.

* API Gateway REST API, Lambda proxy integration (payload format 1.0): handle_api routes a request by its
  resource and method. Responses are {"statusCode", "headers": {"Content-Type": "application/json"},
  "body": JSON}; numbers are JSON numbers (integers exactly, others as the nearest float); errors are
  {"error": "..."}: 404 for an unknown resource, 405 (with Allow) for another method. AWS errors are
  logged and re-raised: the invocation fails, API Gateway answers 502 and the function's Errors metric
  counts it. A body (json_body) is a JSON object of at most 64 KiB (413 otherwise), base64-decoded first
  when marked isBase64Encoded, with decimals parsed into Decimal. Lists take limit (1-100, default 50) and
  nextToken (from the previous page; null on the last one). A nextToken encodes DynamoDB's
  LastEvaluatedKey and only fits the query it came from.
* Step Functions (arn:aws:states:::lambda:invoke): an event that is the whole output of a previous
  lambda:invoke task (the function's result under "Payload", next to StatusCode and the SDK metadata) is
  replaced by its Payload (unwrap_task_output).
* Logs are one JSON object per line with timestamp, level, service, message and the invocation's
  requestId.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
from datetime import datetime, timezone
from decimal import Decimal

from boto3.dynamodb.conditions import Key

MAX_ID_LENGTH = 128
MAX_QUANTITY = 1_000_000
MAX_PRICE = Decimal(1_000_000_000)
PRICE_RE = re.compile(r"\d+(\.\d+)?")
LIMIT_RE = re.compile(r"\d{1,3}")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_BODY_BYTES = 64 * 1024
STEP_FUNCTIONS_WRAPPER_KEYS = ("StatusCode", "ExecutedVersion", "SdkHttpMetadata")


def required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


class ClientFault(Exception):
    """A request the API rejects: becomes a 4xx response."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class Log:
    """The JSON log lines of one service: log(level, message, **fields) prints one."""

    def __init__(self, service: str):
        self.service = service
        self.request_id = None

    def start(self, context) -> None:
        """Tags the lines that follow with the request id of the invocation."""
        self.request_id = getattr(context, "aws_request_id", None)

    def __call__(self, level: str, message: str, **fields) -> None:
        record = {"timestamp": now_iso(), "level": level, "service": self.service, "message": message}
        if self.request_id:
            record["requestId"] = self.request_id
        record.update(fields)
        print(json.dumps(record, default=str))


def unwrap_task_output(event):
    """The Payload of a lambda:invoke task output passed on whole; any other event unchanged."""
    while (isinstance(event, dict) and isinstance(event.get("Payload"), dict) and "httpMethod" not in event
           and any(key in event for key in STEP_FUNCTIONS_WRAPPER_KEYS)):
        event = event["Payload"]
    return event


def event_shape(event):
    """What an unsupported event is logged as: its first keys, or its type when it is no object."""
    return sorted(event)[:20] if isinstance(event, dict) else type(event).__name__


# --- API -----------------------------------------------------------------------------------------------

def handle_api(event: dict, routes: dict, log: Log) -> dict:
    """The response to a request; routes maps resource -> method -> action(event) -> (status, payload)."""
    method = event.get("httpMethod")
    resource = route_of(event)
    log("INFO", "request received", method=method, resource=resource)
    try:
        actions = routes.get(resource)
        if actions is None:
            raise ClientFault(404, f"no route for {resource}")
        action = actions.get(method)
        if action is None:
            allowed = ", ".join(sorted(actions))
            raise ClientFault(405, f"method {method} is not allowed on {resource}", {"Allow": allowed})
        status, payload = action(event)
    except ClientFault as fault:
        log("WARNING", "request rejected", method=method, resource=resource, statusCode=fault.status,
            error=str(fault))
        return response(fault.status, {"error": str(fault)}, fault.headers)
    except Exception as error:
        log("ERROR", "request failed", method=method, resource=resource, error=describe(error))
        raise
    log("INFO", "request handled", method=method, resource=resource, statusCode=status)
    return response(status, payload)


def route_of(event: dict) -> str:
    resource = event.get("resource") or event.get("path") or "/"
    return resource.rstrip("/") or "/"


def json_body(event: dict) -> dict:
    raw = event.get("body")
    if raw is None or raw == "":
        raise ClientFault(400, "the request has no body; send a JSON object")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ClientFault(400, "the body is not valid base64") from None
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        raise ClientFault(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise ClientFault(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ClientFault(400, "the body must be a JSON object")
    return body


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed")


# --- paging --------------------------------------------------------------------------------------------

def query_page(table, partition_key: str, index: str, attribute: str, value: str,
               query: dict) -> tuple[list, str | None]:
    """(items, nextToken or None on the last page): the page of the query attribute = value on index of
    table (whose partition key is partition_key) that the limit and nextToken query parameters ask for."""
    arguments = {"IndexName": index, "KeyConditionExpression": Key(attribute).eq(value),
                 "Limit": parse_limit(query.get("limit"))}
    if query.get("nextToken"):
        arguments["ExclusiveStartKey"] = decode_token(query["nextToken"], partition_key, attribute, value)
    result = table.query(**arguments)
    last_key = result.get("LastEvaluatedKey")
    return result.get("Items") or [], encode_token(last_key) if last_key else None


def parse_limit(text) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not LIMIT_RE.fullmatch(text.strip()) or not 1 <= int(text) <= MAX_LIMIT:
        raise ClientFault(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def encode_token(last_key: dict) -> str:
    text = json.dumps(plain(last_key), sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_token(token: str, partition_key: str, attribute: str, value: str) -> dict:
    """The ExclusiveStartKey in a nextToken, checked to be a key of the table (partition_key) that belongs to
    a query on attribute = value."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ClientFault(400, "nextToken is not a token returned by this API") from None
    if (not isinstance(key, dict) or set(key) != {partition_key, attribute}
            or not all(isinstance(part, str) and part for part in key.values())):
        raise ClientFault(400, "nextToken is not a token returned by this API")
    if key[attribute] != value:
        raise ClientFault(400, f"nextToken belongs to another query than {attribute}={value}")
    return key


# --- values --------------------------------------------------------------------------------------------

def clean_text(value, max_length: int) -> str | None:
    """The stripped string, or None when value is not a non-empty string of at most max_length characters."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_length:
        return None
    return value.strip()


def clean_id(value) -> str | None:
    return clean_text(value, MAX_ID_LENGTH)


def text_problem(name: str, value, max_length: int = MAX_ID_LENGTH) -> str:
    return f"{name} {show(value)} must be a non-empty string of at most {max_length} characters"


def parse_price(value, where: str, error: type[Exception]) -> Decimal:
    """A price (a JSON number or a string such as "19.99") as Decimal; error(message) when it is not a
    non-negative number below MAX_PRICE with at most 2 decimal places. where names it in the message."""
    if isinstance(value, str):
        text = value.strip()
        number = Decimal(text) if PRICE_RE.fullmatch(text) else None
    else:
        number = number_of(value)
    if number is None:
        raise error(f"{where} {show(value)} must be a non-negative number")
    if number < 0:
        raise error(f"{where} {show(value)} is negative")
    if number >= MAX_PRICE:
        raise error(f"{where} {show(value)} must be below {MAX_PRICE}")
    if number.as_tuple().exponent < -2 and number != number.quantize(Decimal("0.01")):
        raise error(f"{where} {show(value)} has more than 2 decimal places")
    return number.copy_abs()  # -0 becomes 0


def number_of(value) -> Decimal | None:
    """A JSON number as Decimal (floats through their shortest repr, as Step Functions input is parsed
    into float), or None for anything else, including booleans, NaN and infinities."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    return None


# --- output --------------------------------------------------------------------------------------------

def plain(value):
    """DynamoDB values made JSON-ready: Decimal becomes int when integral, float otherwise; sets lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def response(status: int, payload, headers: dict | None = None) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(plain(payload))}


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
