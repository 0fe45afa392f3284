"""Items API of the serverless-app environment (API Gateway REST, Lambda proxy, payload format 1.0).

One function, app.lambda_handler, serves every route; it dispatches on httpMethod and resource.
An item is a JSON object stored as versions: the table's partition key id (S) names the item and the
sort key timestamp (N) is the version, epoch milliseconds of the write. A read returns the newest
version; every write adds one.

Routes:
    POST   /items        Body: a JSON object of attributes (not id or timestamp). Creates an item with a
                         new id (UUID4 hex) and its first version.
                         201 {"id", "timestamp", ...attributes}.
    GET    /items/{id}   Without query: the newest version, 200 {"id", "timestamp", ...}.
                         ?limit=N (1-100): the newest N versions, newest first, 200 {"id", "items": [...]}.
    PUT    /items/{id}   Body: a JSON object of attributes. Adds a version that replaces the attributes
                         of an existing item. Its timestamp is now, or one past the newest version when
                         the clock is behind it, so versions always increase. 200 the new version.
                         A concurrent write that took the same timestamp answers 409 (retry).
    DELETE /items/{id}   Deletes every version. 200 {"id", "deleted": N}.

Errors: 400 malformed JSON, a body that is not an object, id/timestamp in the body, a number DynamoDB
cannot store (more than 38 digits, NaN, Infinity), bad id (1-128 of A-Z a-z 0-9 . _ -) or limit;
404 unknown item or route; 405 method not allowed on a known resource; 409 write conflict; 413 body over
100 KiB. Every response is {"statusCode", "headers": {"Content-Type": "application/json"}, "body": JSON},
errors are {"error": "..."}. AWS errors are not turned into responses: they are logged, counted, and
re-raised, so the invocation fails (API Gateway answers 502) and counts in the function's Errors metric
that the error-rate alarm watches.

Numbers come back as JSON numbers: integers exactly, other numbers as the nearest float.

Observability (standard library only, no Powertools):
    Logs    one JSON object per line: level, message, timestamp, service, function, request_id,
            cold_start, xray_trace_id and the record's extra fields. The level is the stage variable
            logLevel, else LOG_LEVEL, else INFO.
    Metrics one CloudWatch Embedded Metric Format line per request, namespace METRICS_NAMESPACE
            (ServerlessApp), dimensions Service and Operation (create, read, update, delete, unknown):
            Requests, ClientErrors and ServerErrors (Count), Latency (Milliseconds), and ItemsWritten or
            ItemsDeleted (Count) for successful writes.

Environment:
    TABLE_NAME          the items table (id S / timestamp N)
    METRICS_NAMESPACE   default ServerlessApp
    SERVICE_NAME        default serverless-app
    LOG_LEVEL           default INFO
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import sys
import time
import uuid
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

MAX_BODY_BYTES = 100 * 1024
MAX_LIMIT = 100
ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
RESERVED = ("id", "timestamp")
DEFAULT_NAMESPACE = "ServerlessApp"
DEFAULT_SERVICE = "serverless-app"
LOG_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

dynamodb = boto3.resource("dynamodb")
_serializer = TypeSerializer()
_cold_start = True


class ClientFault(Exception):
    """A request the API rejects: becomes a 4xx response."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --- logging -------------------------------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the invocation's context and the record's extra fields."""

    def __init__(self):
        super().__init__()
        self.context: dict = {}

    def format(self, record: logging.LogRecord) -> str:
        entry = {"level": record.levelname, "message": record.getMessage(),
                 "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                 + f".{int(record.msecs):03d}Z",
                 "logger": record.name, **self.context}
        entry.update({k: v for k, v in vars(record).items() if k not in LOG_RECORD_FIELDS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
            entry["exception_type"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


class StdoutHandler(logging.Handler):
    """Writes each record as one line to the current sys.stdout (where Lambda collects logs and EMF)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def _make_logger() -> tuple[logging.Logger, JsonFormatter]:
    log = logging.getLogger("serverless_app")
    formatter = JsonFormatter()
    handler = StdoutHandler()
    handler.setFormatter(formatter)
    log.handlers = [handler]
    log.propagate = False   # the Lambda runtime's root handler would print every record a second time
    return log, formatter


logger, formatter = _make_logger()


def _level(event: dict) -> int:
    name = ((event.get("stageVariables") or {}).get("logLevel") or os.environ.get("LOG_LEVEL") or "INFO").upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


# --- metrics (Embedded Metric Format) ------------------------------------------------------------------

def emit_metrics(operation: str, values: dict, units: dict, properties: dict) -> None:
    """Prints one EMF document: CloudWatch Logs extracts the metrics, no API call is made."""
    namespace = os.environ.get("METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    document = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": namespace,
            "Dimensions": [["Service", "Operation"]],
            "Metrics": [{"Name": name, "Unit": units.get(name, "Count")} for name in values],
        }]},
        "Service": os.environ.get("SERVICE_NAME") or DEFAULT_SERVICE,
        "Operation": operation,
        **values,
        **properties,
    }
    print(json.dumps(document, default=str), flush=True)


# --- handler -------------------------------------------------------------------------------------------

def lambda_handler(event, context):
    global _cold_start
    started = time.perf_counter()
    request_id = getattr(context, "aws_request_id", None)
    formatter.context = {
        "service": os.environ.get("SERVICE_NAME") or DEFAULT_SERVICE,
        "function": getattr(context, "function_name", None),
        "function_version": getattr(context, "function_version", None),
        "request_id": request_id,
        "cold_start": _cold_start,
        "xray_trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
    }
    _cold_start = False
    event = event if isinstance(event, dict) else {}
    logger.setLevel(_level(event))
    method, resource = event.get("httpMethod"), event.get("resource")
    operation = OPERATIONS.get((method, resource), "unknown")
    api_request_id = (event.get("requestContext") or {}).get("requestId")
    logger.debug("request", extra={"http_method": method, "resource": resource, "path": event.get("path"),
                                   "api_request_id": api_request_id})
    counts: dict = {}
    try:
        status, payload, counts = route(event, method, resource)
    except ClientFault as fault:
        status, payload = fault.status, {"error": str(fault)}
    except Exception:
        logger.exception("request failed", extra={"operation": operation, "api_request_id": api_request_id})
        _record(operation, started, 500, counts, api_request_id)
        raise
    if status >= 400:
        logger.info("request rejected", extra={"operation": operation, "status": status,
                                               "error": payload["error"], "api_request_id": api_request_id})
    else:
        logger.info("request served", extra={"operation": operation, "status": status,
                                             "api_request_id": api_request_id, **counts})
    _record(operation, started, status, counts, api_request_id)
    return response(status, payload)


def _record(operation: str, started: float, status: int, counts: dict, api_request_id) -> None:
    values = {"Requests": 1, "ClientErrors": int(400 <= status < 500), "ServerErrors": int(status >= 500),
              "Latency": round((time.perf_counter() - started) * 1000, 3), **counts}
    emit_metrics(operation, values, {"Latency": "Milliseconds"},
                 {"statusCode": status, "requestId": formatter.context.get("request_id"),
                  "apiRequestId": api_request_id})


OPERATIONS = {("POST", "/items"): "create", ("GET", "/items/{id}"): "read",
              ("PUT", "/items/{id}"): "update", ("DELETE", "/items/{id}"): "delete"}


def route(event: dict, method, resource) -> tuple[int, dict, dict]:
    """(status, payload, metric counts) of a request."""
    if resource == "/items":
        if method == "POST":
            return create_item(event)
        raise ClientFault(405, f"{method} is not allowed on /items (use POST)")
    if resource == "/items/{id}":
        item_id = _item_id(event)
        if method == "GET":
            return read_item(event, item_id)
        if method == "PUT":
            return update_item(event, item_id)
        if method == "DELETE":
            return delete_item(item_id)
        raise ClientFault(405, f"{method} is not allowed on /items/{{id}} (use GET, PUT or DELETE)")
    raise ClientFault(404, f"no route for {method} {event.get('path') or resource}")


def create_item(event: dict) -> tuple[int, dict, dict]:
    attributes = _attributes(event)
    item = {"id": uuid.uuid4().hex, "timestamp": _now_ms(), **attributes}
    _table().put_item(Item=item, ConditionExpression=Attr("id").not_exists())
    return 201, to_json(item), {"ItemsWritten": 1}


def read_item(event: dict, item_id: str) -> tuple[int, dict, dict]:
    limit_text = (event.get("queryStringParameters") or {}).get("limit")
    limit = 1
    if limit_text is not None:
        if not re.fullmatch(r"[0-9]{1,3}", limit_text) or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise ClientFault(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(limit_text)
    items = _table().query(KeyConditionExpression=Key("id").eq(item_id), ScanIndexForward=False,
                           Limit=limit)["Items"]
    if not items:
        raise ClientFault(404, f"no item {item_id}")
    if limit_text is None:
        return 200, to_json(items[0]), {}
    return 200, {"id": item_id, "items": [to_json(item) for item in items]}, {}


def update_item(event: dict, item_id: str) -> tuple[int, dict, dict]:
    attributes = _attributes(event)
    latest = _table().query(KeyConditionExpression=Key("id").eq(item_id), ScanIndexForward=False, Limit=1,
                            ProjectionExpression="#ts", ExpressionAttributeNames={"#ts": "timestamp"})["Items"]
    if not latest:
        raise ClientFault(404, f"no item {item_id}")
    item = {"id": item_id, "timestamp": max(_now_ms(), int(latest[0]["timestamp"]) + 1), **attributes}
    try:
        _table().put_item(Item=item, ConditionExpression=Attr("timestamp").not_exists())
    except ClientError as failure:
        if failure.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ClientFault(409, f"item {item_id} was written concurrently; retry") from None
        raise
    return 200, to_json(item), {"ItemsWritten": 1}


def delete_item(item_id: str) -> tuple[int, dict, dict]:
    table = _table()
    keys, query = [], {"KeyConditionExpression": Key("id").eq(item_id), "ProjectionExpression": "#id, #ts",
                       "ExpressionAttributeNames": {"#id": "id", "#ts": "timestamp"}}
    while True:
        page = table.query(**query)
        keys.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if not keys:
        raise ClientFault(404, f"no item {item_id}")
    with table.batch_writer() as batch:
        for key in keys:
            batch.delete_item(Key={"id": key["id"], "timestamp": key["timestamp"]})
    return 200, {"id": item_id, "deleted": len(keys)}, {"ItemsDeleted": len(keys)}


# --- input ---------------------------------------------------------------------------------------------

def _item_id(event: dict) -> str:
    item_id = (event.get("pathParameters") or {}).get("id") or ""
    if not ID_RE.fullmatch(item_id):
        raise ClientFault(400, "id must be 1-128 of A-Z a-z 0-9 . _ -")
    return item_id


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number DynamoDB can store")


def _attributes(event: dict) -> dict:
    raw = event.get("body")
    if raw is None or raw == "":
        raise ClientFault(400, "empty body: send a JSON object")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ClientFault(400, "body is not valid base64") from None
    else:
        body = raw.encode("utf-8")
    if len(body) > MAX_BODY_BYTES:
        raise ClientFault(413, f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        attributes = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_int=Decimal,
                                parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as problem:
        raise ClientFault(400, f"body is not valid JSON: {problem}") from None
    if not isinstance(attributes, dict):
        raise ClientFault(400, "body must be a JSON object")
    if "" in attributes:
        raise ClientFault(400, "attribute names cannot be empty")
    reserved = [name for name in RESERVED if name in attributes]
    if reserved:
        raise ClientFault(400, f"{', '.join(reserved)} cannot be set: the API assigns them")
    try:
        _serializer.serialize(attributes)
    except (TypeError, ArithmeticError):   # decimal.Inexact/Rounded/Overflow: over 38 digits or out of range
        raise ClientFault(400, "a number has more than 38 significant digits or is out of DynamoDB's range") \
            from None
    return attributes


def _now_ms() -> int:
    return int(time.time() * 1000)


def _table():
    return dynamodb.Table(os.environ["TABLE_NAME"])


# --- output --------------------------------------------------------------------------------------------

def to_json(value):
    """DynamoDB values to JSON values: Decimal -> int when integral, else float; sets -> sorted lists."""
    if isinstance(value, dict):
        return {name: to_json(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [to_json(inner) for inner in value]
    if isinstance(value, (set, frozenset)):
        return sorted(to_json(inner) for inner in value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (bytes, bytearray)) or type(value).__name__ == "Binary":
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def response(status: int, payload) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload)}
