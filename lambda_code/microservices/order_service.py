"""Order service of the microservices environment.

Handler: ``order_service.handler`` (boto3 and the standard library only). Two kinds of invocation:

* API Gateway REST API, Lambda proxy integration (payload format 1.0):

    POST /orders  Body: {"userId", "items": [{"productId", "quantity", "price"}, ...]}.
                  userId: non-empty string; items: 1-100 entries, each productId a non-empty string (at
                  most once per order), quantity an integer from 1 to 1,000,000, price a non-negative
                  number (a JSON number or a string such as "19.99") with at most 2 decimal places, below
                  1,000,000,000. The user must exist in the users table (GetItem). Stores the order with a
                  new orderId (UUID4), status PENDING, the items and their total as Decimal (never float),
                  createdAt (UTC ISO-8601) and confirmation: the hex HMAC-SHA256 of the orderId keyed with
                  the API secret, which lets another service check that an orderId was issued here.
                  201 the order; 400 a bad body; 404 unknown user.
    GET  /orders  ?userId=ID (userId-index) or ?status=STATUS (status-index, case-insensitive, e.g.
                  pending), optional limit (1-100, default 50) and nextToken (from the previous page).
                  200 {"orders": [...], "count", "nextToken"}; nextToken is null on the last page. It
                  encodes DynamoDB's LastEvaluatedKey and only fits the query it came from.
                  400 neither or both of userId and status, bad limit or nextToken.

  Responses are {"statusCode", "headers": {"Content-Type": "application/json"}, "body": JSON}; numbers
  are JSON numbers (integers exactly, others as the nearest float); errors are {"error": "..."}. 404 for
  an unknown resource, 405 for another method on /orders. AWS errors are logged and re-raised: the
  invocation fails, API Gateway answers 502 and the function's Errors metric counts it.

* Step Functions, the ProcessOrder task (arn:aws:states:::lambda:invoke, Payload.$ = $): an event with
  items and no httpMethod, normally ValidateUser's output {"userId", "items", "user"}. The items are
  checked as above (InvalidOrder when they are wrong); the order is stored with status PROCESSING, and
  the event is returned plus {"orderId", "status": "PROCESSING"}. Every run writes a new order, so a
  retried ProcessOrder that had already succeeded leaves a second PROCESSING order. If the event is the
  whole output of a previous lambda:invoke task (result under "Payload" next to StatusCode and the SDK
  metadata), the Payload is used.

The API secret (SecretString, or SecretBinary) is read with GetSecretValue the first time a confirmation
is computed and kept for the life of the execution environment; a rotated secret is picked up by new
environments.

Environment:
    ORDERS_TABLE_NAME  orders table: partition key orderId (S), GSIs userId-index (userId) and
                       status-index (status)
    USERS_TABLE_NAME   users table (partition key userId), read only
    API_SECRET_ARN     Secrets Manager secret that keys the confirmation HMAC

AWS permissions: dynamodb:PutItem on the orders table and dynamodb:Query on its two indexes,
dynamodb:GetItem on the users table, secretsmanager:GetSecretValue on the secret (and kms:Decrypt on its
key if it is a customer managed one). Logs are one JSON object per line.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import boto3
from boto3.dynamodb.conditions import Key

SERVICE = "order-service"
USER_INDEX = "userId-index"
STATUS_INDEX = "status-index"
API_STATUS = "PENDING"
WORKFLOW_STATUS = "PROCESSING"
MAX_ITEMS = 100
MAX_QUANTITY = 1_000_000
MAX_PRICE = Decimal(1_000_000_000)
MAX_ID_LENGTH = 128
STATUS_RE = re.compile(r"[A-Z][A-Z_]{0,31}")
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


dynamodb = boto3.resource("dynamodb")
secrets = boto3.client("secretsmanager")
orders_table = dynamodb.Table(required_env("ORDERS_TABLE_NAME"))
users_table = dynamodb.Table(required_env("USERS_TABLE_NAME"))
API_SECRET_ARN = required_env("API_SECRET_ARN")

_signing_key: bytes | None = None
_request_id = None


class ClientFault(Exception):
    """A request the API rejects: becomes a 4xx response."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class InvalidOrder(ValueError):
    """An order (API body or ProcessOrder input) that retrying cannot fix."""


class UnsupportedEvent(ValueError):
    """An event that is neither an API Gateway request nor a ProcessOrder task input."""


def handler(event, context):
    global _request_id
    _request_id = getattr(context, "aws_request_id", None)
    event = unwrap_task_output(event)
    if isinstance(event, dict) and "httpMethod" in event:
        return handle_api(event)
    if isinstance(event, dict) and "items" in event:
        return process_order(event)
    shape = sorted(event)[:20] if isinstance(event, dict) else type(event).__name__
    log("ERROR", "unsupported event", eventKeys=shape)
    raise UnsupportedEvent("expected an API Gateway proxy request or a ProcessOrder input with items")


def unwrap_task_output(event):
    """The Payload of a lambda:invoke task output passed on whole; any other event unchanged."""
    while (isinstance(event, dict) and isinstance(event.get("Payload"), dict) and "httpMethod" not in event
           and any(key in event for key in STEP_FUNCTIONS_WRAPPER_KEYS)):
        event = event["Payload"]
    return event


# --- API -----------------------------------------------------------------------------------------------

def handle_api(event: dict) -> dict:
    method = event.get("httpMethod")
    resource = route_of(event)
    log("INFO", "request received", method=method, resource=resource)
    try:
        routes = ROUTES.get(resource)
        if routes is None:
            raise ClientFault(404, f"no route for {resource}")
        action = routes.get(method)
        if action is None:
            allowed = ", ".join(sorted(routes))
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


def create_order(event: dict):
    body = json_body(event)
    try:
        user_id, items = parse_order(body)
    except InvalidOrder as error:
        raise ClientFault(400, str(error)) from None
    if not user_exists(user_id):
        raise ClientFault(404, f"user {user_id} does not exist")
    order = store_order(user_id, items, API_STATUS)
    return 201, order


def list_orders(event: dict):
    query = event.get("queryStringParameters") or {}
    user_id, status = query.get("userId"), query.get("status")
    if (user_id is None) == (status is None):
        raise ClientFault(400, "give exactly one of the query parameters userId and status")
    if user_id is not None:
        value = clean_id(user_id)
        if value is None:
            raise ClientFault(400, f"userId {show(user_id)} must be a non-empty string of at most "
                                   f"{MAX_ID_LENGTH} characters")
        index, attribute = USER_INDEX, "userId"
    else:
        value = status.strip().upper()
        if not STATUS_RE.fullmatch(value):
            raise ClientFault(400, f"status {show(status)} is not a status name such as PENDING")
        index, attribute = STATUS_INDEX, "status"
    limit = parse_limit(query.get("limit"))

    arguments = {"IndexName": index, "KeyConditionExpression": Key(attribute).eq(value), "Limit": limit}
    if query.get("nextToken"):
        arguments["ExclusiveStartKey"] = decode_token(query["nextToken"], attribute, value)
    result = orders_table.query(**arguments)
    orders = result.get("Items") or []
    last_key = result.get("LastEvaluatedKey")
    return 200, {"orders": orders, "count": len(orders),
                 "nextToken": encode_token(last_key) if last_key else None}


ROUTES = {"/orders": {"POST": create_order, "GET": list_orders}}


def parse_limit(text) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not LIMIT_RE.fullmatch(text.strip()) or not 1 <= int(text) <= MAX_LIMIT:
        raise ClientFault(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def encode_token(last_key: dict) -> str:
    text = json.dumps(plain(last_key), sort_keys=True, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_token(token: str, attribute: str, value: str) -> dict:
    """The ExclusiveStartKey in a nextToken, checked to belong to a query on attribute = value."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ClientFault(400, "nextToken is not a token returned by this API") from None
    if (not isinstance(key, dict) or set(key) != {"orderId", attribute}
            or not all(isinstance(part, str) and part for part in key.values())):
        raise ClientFault(400, "nextToken is not a token returned by this API")
    if key[attribute] != value:
        raise ClientFault(400, f"nextToken belongs to another query than {attribute}={value}")
    return key


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


# --- Step Functions ------------------------------------------------------------------------------------

def process_order(event: dict) -> dict:
    user_id, items = parse_order(event)
    order = store_order(user_id, items, WORKFLOW_STATUS)
    log("INFO", "order processed", step="ProcessOrder", orderId=order["orderId"], userId=user_id)
    return {**event, "orderId": order["orderId"], "status": WORKFLOW_STATUS}


# --- orders --------------------------------------------------------------------------------------------

def parse_order(data: dict) -> tuple[str, list]:
    """(userId, items with Decimal quantity and price) of an order, or InvalidOrder."""
    user_id = clean_id(data.get("userId"))
    if user_id is None:
        raise InvalidOrder(f"userId {show(data.get('userId'))} must be a non-empty string of at most "
                           f"{MAX_ID_LENGTH} characters")
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidOrder("items must be a non-empty list")
    if len(items) > MAX_ITEMS:
        raise InvalidOrder(f"an order holds at most {MAX_ITEMS} items, not {len(items)}")
    parsed, seen = [], set()
    for position, item in enumerate(items):
        where = f"items[{position}]"
        if not isinstance(item, dict):
            raise InvalidOrder(f"{where} must be an object")
        product_id = clean_id(item.get("productId"))
        if product_id is None:
            raise InvalidOrder(f"{where}.productId {show(item.get('productId'))} must be a non-empty string "
                               f"of at most {MAX_ID_LENGTH} characters")
        if product_id in seen:
            raise InvalidOrder(f"{where}.productId {product_id} appears more than once; "
                               "give each product once with its total quantity")
        seen.add(product_id)
        parsed.append({"productId": product_id,
                       "quantity": parse_quantity(item.get("quantity"), f"{where}.quantity"),
                       "price": parse_price(item.get("price"), f"{where}.price")})
    return user_id, parsed


def parse_quantity(value, where: str) -> Decimal:
    number = number_of(value) if not isinstance(value, str) else None
    if number is None or number != number.to_integral_value():
        raise InvalidOrder(f"{where} {show(value)} must be a whole number")
    if not 1 <= number <= MAX_QUANTITY:
        raise InvalidOrder(f"{where} {show(value)} must be from 1 to {MAX_QUANTITY}")
    return Decimal(int(number))


def parse_price(value, where: str) -> Decimal:
    if isinstance(value, str):
        text = value.strip()
        number = Decimal(text) if PRICE_RE.fullmatch(text) else None
    else:
        number = number_of(value)
    if number is None:
        raise InvalidOrder(f"{where} {show(value)} must be a non-negative number")
    if number < 0:
        raise InvalidOrder(f"{where} {show(value)} is negative")
    if number >= MAX_PRICE:
        raise InvalidOrder(f"{where} {show(value)} must be below {MAX_PRICE}")
    if number.as_tuple().exponent < -2 and number != number.quantize(Decimal("0.01")):
        raise InvalidOrder(f"{where} {show(value)} has more than 2 decimal places")
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


def clean_id(value) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_ID_LENGTH:
        return None
    return value.strip()


def store_order(user_id: str, items: list, status: str) -> dict:
    order_id = str(uuid.uuid4())
    total = sum((item["price"] * item["quantity"] for item in items), Decimal(0))
    order = {
        "orderId": order_id,
        "userId": user_id,
        "items": items,
        "total": total,
        "status": status,
        "createdAt": now_iso(),
        "confirmation": confirmation_token(order_id),
    }
    # The condition only guards against a UUID collision; it never fails in practice.
    orders_table.put_item(Item=order, ConditionExpression="attribute_not_exists(orderId)")
    log("INFO", "order stored", orderId=order_id, userId=user_id, status=status, items=len(items),
        total=str(total))
    return order


def user_exists(user_id: str) -> bool:
    result = users_table.get_item(Key={"userId": user_id}, ProjectionExpression="userId", ConsistentRead=True)
    return "Item" in result


# --- confirmation --------------------------------------------------------------------------------------

def confirmation_token(order_id: str) -> str:
    return hmac.new(signing_key(), order_id.encode("utf-8"), hashlib.sha256).hexdigest()


def signing_key() -> bytes:
    """The API secret, fetched once per execution environment."""
    global _signing_key
    if _signing_key is None:
        secret = secrets.get_secret_value(SecretId=API_SECRET_ARN)
        value = secret.get("SecretString")
        key = value.encode("utf-8") if value is not None else secret.get("SecretBinary") or b""
        if not key:
            raise RuntimeError(f"secret {API_SECRET_ARN} has an empty value")
        _signing_key = key
        log("INFO", "API secret loaded", versionId=secret.get("VersionId"))
    return _signing_key


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


def log(level: str, message: str, **fields) -> None:
    record = {"timestamp": now_iso(), "level": level, "service": SERVICE, "message": message}
    if _request_id:
        record["requestId"] = _request_id
    record.update(fields)
    print(json.dumps(record, default=str))
