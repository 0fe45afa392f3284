"""Order service of the microservices environment.

Handler: ``order_service.handler`` (boto3, the standard library and service.py). Two kinds of invocation:

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
                  pending), optional limit and nextToken. 200 {"orders": [...], "count", "nextToken"}.
                  400 neither or both of userId and status, bad limit or nextToken.

  Responses, errors, the body, limit and nextToken, 404 for an unknown resource, 405 for another method
  on /orders and AWS errors are handled as service.py describes.

* Step Functions, the ProcessOrder task (arn:aws:states:::lambda:invoke, Payload.$ = $): an event with
  items and no httpMethod, normally ValidateUser's output {"userId", "items", "user"}. The items are
  checked as above (InvalidOrder when they are wrong); the order is stored with status PROCESSING, and
  the event is returned plus {"orderId", "status": "PROCESSING"}. Every run writes a new order, so a
  retried ProcessOrder that had already succeeded leaves a second PROCESSING order. The whole output of a
  previous lambda:invoke task is unwrapped (see service.py).

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
key if it is a customer managed one).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from decimal import Decimal

import boto3
import service
from service import (
    MAX_QUANTITY,
    ClientFault,
    clean_id,
    handle_api,
    json_body,
    now_iso,
    number_of,
    parse_price,
    query_page,
    show,
    text_problem,
    unwrap_task_output,
)

SERVICE = "order-service"
USER_INDEX = "userId-index"
STATUS_INDEX = "status-index"
API_STATUS = "PENDING"
WORKFLOW_STATUS = "PROCESSING"
MAX_ITEMS = 100
STATUS_RE = re.compile(r"[A-Z][A-Z_]{0,31}")

dynamodb = boto3.resource("dynamodb")
secrets = boto3.client("secretsmanager")
orders_table = dynamodb.Table(service.required_env("ORDERS_TABLE_NAME"))
users_table = dynamodb.Table(service.required_env("USERS_TABLE_NAME"))
API_SECRET_ARN = service.required_env("API_SECRET_ARN")
log = service.Log(SERVICE)

_signing_key: bytes | None = None


class InvalidOrder(ValueError):
    """An order (API body or ProcessOrder input) that retrying cannot fix."""


class UnsupportedEvent(ValueError):
    """An event that is neither an API Gateway request nor a ProcessOrder task input."""


def handler(event, context):
    log.start(context)
    event = unwrap_task_output(event)
    if isinstance(event, dict) and "httpMethod" in event:
        return handle_api(event, ROUTES, log)
    if isinstance(event, dict) and "items" in event:
        return process_order(event)
    log("ERROR", "unsupported event", eventKeys=service.event_shape(event))
    raise UnsupportedEvent("expected an API Gateway proxy request or a ProcessOrder input with items")


# --- API -----------------------------------------------------------------------------------------------

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
            raise ClientFault(400, text_problem("userId", user_id))
        index, attribute = USER_INDEX, "userId"
    else:
        value = status.strip().upper()
        if not STATUS_RE.fullmatch(value):
            raise ClientFault(400, f"status {show(status)} is not a status name such as PENDING")
        index, attribute = STATUS_INDEX, "status"
    orders, next_token = query_page(orders_table, "orderId", index, attribute, value, query)
    return 200, {"orders": orders, "count": len(orders), "nextToken": next_token}


ROUTES = {"/orders": {"POST": create_order, "GET": list_orders}}


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
        raise InvalidOrder(text_problem("userId", data.get("userId")))
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
            raise InvalidOrder(text_problem(f"{where}.productId", item.get("productId")))
        if product_id in seen:
            raise InvalidOrder(f"{where}.productId {product_id} appears more than once; "
                               "give each product once with its total quantity")
        seen.add(product_id)
        parsed.append({"productId": product_id,
                       "quantity": parse_quantity(item.get("quantity"), f"{where}.quantity"),
                       "price": parse_price(item.get("price"), f"{where}.price", InvalidOrder)})
    return user_id, parsed


def parse_quantity(value, where: str) -> Decimal:
    number = number_of(value) if not isinstance(value, str) else None
    if number is None or number != number.to_integral_value():
        raise InvalidOrder(f"{where} {show(value)} must be a whole number")
    if not 1 <= number <= MAX_QUANTITY:
        raise InvalidOrder(f"{where} {show(value)} must be from 1 to {MAX_QUANTITY}")
    return Decimal(int(number))


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
