"""Product service of the microservices environment.

Handler: ``product_service.handler`` (boto3 and the standard library only). Three kinds of invocation:

* API Gateway REST API, Lambda proxy integration (payload format 1.0):

    POST /products  Body: {"name", "category", "price", "stock"}. name (at most 200 characters) and
                    category (at most 100) are non-empty strings; price a non-negative number (a JSON
                    number or a string such as "19.99") with at most 2 decimal places, below
                    1,000,000,000; stock a non-negative integer (at most 10^12). Stores the product with a
                    new productId (UUID4), price and stock as Decimal, createdAt and updatedAt (UTC
                    ISO-8601). 201 the product; 400 a bad body.
    GET  /products  ?productId=ID reads one product (200, or 404); otherwise ?category=NAME lists the
                    category through category-index, with optional limit (1-100, default 50) and
                    nextToken from the previous page: 200 {"products": [...], "count", "nextToken"},
                    nextToken null on the last page. 400 neither parameter, bad limit or nextToken.

  Responses are {"statusCode", "headers": {"Content-Type": "application/json"}, "body": JSON}; numbers
  are JSON numbers (integers exactly, others as the nearest float); errors are {"error": "..."}. 404 for
  an unknown resource, 405 for another method on /products. AWS errors are logged and re-raised: the
  invocation fails, API Gateway answers 502 and the function's Errors metric counts it.

* Step Functions, the UpdateInventory task (arn:aws:states:::lambda:invoke, Payload.$ = $): an event with
  orderId and items ([{"productId", "quantity"}, ...], normally ProcessOrder's output). Every product's
  stock is decremented by its quantity (quantities of a product listed twice are added up) in one
  DynamoDB transaction of conditional updates (stock >= quantity): either every stock changes or none.
  When a product lacks the stock, or does not exist, InsufficientStock is raised naming it, and no stock
  changes. The transaction's ClientRequestToken is derived from the orderId, so a retried task that had
  already succeeded within DynamoDB's 10-minute idempotency window does not decrement twice. Returns
  {"orderId", "status": "INVENTORY_UPDATED"}. A malformed event raises InvalidInventoryRequest. If the
  event is the whole output of a previous lambda:invoke task (result under "Payload" next to StatusCode
  and the SDK metadata), the Payload is used.

* S3 ObjectCreated notifications for ``incoming/*.csv`` in the data bucket. The CSV file (UTF-8, a BOM is
  fine) has a header row with the columns productId, name, category, price, stock (names matched without
  regard to case or surrounding blanks, extra columns ignored), then one product per line, checked as for
  POST /products with productId a non-empty string of at most 128 characters. Valid rows are written with
  a batch writer (whole items: a row replaces the stored product; of two rows with one productId the later
  wins). Invalid rows are counted and logged with their line numbers (the header is line 1) and do not
  stop the import. A file that cannot be read as a whole (not UTF-8, a required column missing) writes
  nothing and is logged as an error. Either way the object is then copied to ``processed/`` under the
  same relative name and deleted from ``incoming/``; the bucket's lifecycle rule expires processed data.
  Keys arrive URL-encoded and are decoded. Keys outside incoming/ or not ending in .csv are skipped, and so
  is an object already moved by an earlier delivery of the same event; an s3:TestEvent is ignored. Returns {"files", "written",
  "rejected", "files_rejected"}; AWS errors propagate, so Lambda's retries and dead-letter queue see them.

Environment:
    PRODUCTS_TABLE_NAME  products table: partition key productId (S), GSI category-index on category (S)

AWS permissions: dynamodb:PutItem, GetItem, UpdateItem (the transaction's updates) and BatchWriteItem on
the table, dynamodb:Query on category-index; s3:GetObject and s3:DeleteObject under incoming/,
s3:PutObject under processed/ (the copy), s3:ListBucket on the bucket (so that an object already moved
reads as missing, not as access denied), and kms:Decrypt / kms:GenerateDataKey on the bucket's key if it
is a customer managed one. Logs are one JSON object per line.
"""
from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import math
import os
import re
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import unquote_plus

import boto3
from boto3.dynamodb.conditions import Key
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

SERVICE = "product-service"
CATEGORY_INDEX = "category-index"
INCOMING_PREFIX = "incoming/"
PROCESSED_PREFIX = "processed/"
CSV_COLUMNS = ("productId", "name", "category", "price", "stock")
INVENTORY_STATUS = "INVENTORY_UPDATED"
MAX_ID_LENGTH = 128
MAX_NAME_LENGTH = 200
MAX_CATEGORY_LENGTH = 100
MAX_PRICE = Decimal(1_000_000_000)
MAX_STOCK = 10 ** 12
MAX_QUANTITY = 1_000_000
MAX_ORDER_ITEMS = 100  # DynamoDB transactions hold at most 100 actions
PRICE_RE = re.compile(r"\d+(\.\d+)?")
STOCK_RE = re.compile(r"\d+")
LIMIT_RE = re.compile(r"\d{1,3}")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_BODY_BYTES = 64 * 1024
MAX_LOGGED_REJECTIONS = 100
STEP_FUNCTIONS_WRAPPER_KEYS = ("StatusCode", "ExecutedVersion", "SdkHttpMetadata")


def required_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


dynamodb = boto3.resource("dynamodb")
s3 = boto3.client("s3")
PRODUCTS_TABLE_NAME = required_env("PRODUCTS_TABLE_NAME")
products_table = dynamodb.Table(PRODUCTS_TABLE_NAME)
_deserializer = TypeDeserializer()

_request_id = None


class ClientFault(Exception):
    """A request the API rejects: becomes a 4xx response."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class InvalidProduct(ValueError):
    """A product (API body or CSV row) that retrying cannot fix."""


class InsufficientStock(Exception):
    """UpdateInventory: a product of the order lacks the stock, or does not exist; nothing was changed."""


class InvalidInventoryRequest(ValueError):
    """UpdateInventory: the input has no usable orderId or items."""


class UnsupportedEvent(ValueError):
    """An event that is neither an API Gateway request, an S3 notification nor an UpdateInventory input."""


def handler(event, context):
    global _request_id
    _request_id = getattr(context, "aws_request_id", None)
    event = unwrap_task_output(event)
    if isinstance(event, dict) and "httpMethod" in event:
        return handle_api(event)
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return handle_s3(event["Records"])
    if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
        log("INFO", "S3 test event ignored", bucket=event.get("Bucket"))
        return {"files": 0, "written": 0, "rejected": 0, "files_rejected": 0}
    if isinstance(event, dict) and "orderId" in event and "items" in event:
        return update_inventory(event)
    shape = sorted(event)[:20] if isinstance(event, dict) else type(event).__name__
    log("ERROR", "unsupported event", eventKeys=shape)
    raise UnsupportedEvent("expected an API Gateway proxy request, an S3 notification or an "
                           "UpdateInventory input with orderId and items")


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


def create_product(event: dict):
    body = json_body(event)
    try:
        product = to_product(body, with_id=False)
    except InvalidProduct as error:
        raise ClientFault(400, str(error)) from None
    now = now_iso()
    product = {"productId": str(uuid.uuid4()), **product, "createdAt": now, "updatedAt": now}
    # The condition only guards against a UUID collision; it never fails in practice.
    products_table.put_item(Item=product, ConditionExpression="attribute_not_exists(productId)")
    log("INFO", "product created", productId=product["productId"], category=product["category"])
    return 201, product


def get_products(event: dict):
    query = event.get("queryStringParameters") or {}
    if query.get("productId") is not None:
        product_id = clean_text(query["productId"], MAX_ID_LENGTH)
        if product_id is None:
            raise ClientFault(400, f"productId must be a non-empty string of at most {MAX_ID_LENGTH} "
                                   "characters")
        product = products_table.get_item(Key={"productId": product_id}, ConsistentRead=True).get("Item")
        if product is None:
            raise ClientFault(404, f"no product with productId {product_id}")
        return 200, product
    if query.get("category") is not None:
        category = clean_text(query["category"], MAX_CATEGORY_LENGTH)
        if category is None:
            raise ClientFault(400, f"category must be a non-empty string of at most {MAX_CATEGORY_LENGTH} "
                                   "characters")
        arguments = {"IndexName": CATEGORY_INDEX, "KeyConditionExpression": Key("category").eq(category),
                     "Limit": parse_limit(query.get("limit"))}
        if query.get("nextToken"):
            arguments["ExclusiveStartKey"] = decode_token(query["nextToken"], "category", category)
        result = products_table.query(**arguments)
        products = result.get("Items") or []
        last_key = result.get("LastEvaluatedKey")
        return 200, {"products": products, "count": len(products),
                     "nextToken": encode_token(last_key) if last_key else None}
    raise ClientFault(400, "give the query parameter productId or category")


ROUTES = {"/products": {"POST": create_product, "GET": get_products}}


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
    if (not isinstance(key, dict) or set(key) != {"productId", attribute}
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


# --- products ------------------------------------------------------------------------------------------

def to_product(values: dict, with_id: bool) -> dict:
    """The stored attributes of a product from a JSON body or a CSV row (all strings), or InvalidProduct."""
    product = {}
    if with_id:
        product["productId"] = required_text(values, "productId", MAX_ID_LENGTH)
    product["name"] = required_text(values, "name", MAX_NAME_LENGTH)
    product["category"] = required_text(values, "category", MAX_CATEGORY_LENGTH)
    product["price"] = parse_price(values.get("price"))
    product["stock"] = parse_stock(values.get("stock"))
    return product


def required_text(values: dict, name: str, max_length: int) -> str:
    value = values.get(name)
    if value is None or value == "":
        raise InvalidProduct(f"missing {name}")
    text = clean_text(value, max_length)
    if text is None:
        raise InvalidProduct(f"{name} {show(value)} must be a non-empty string of at most {max_length} "
                             "characters")
    return text


def clean_text(value, max_length: int) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > max_length:
        return None
    return value.strip()


def parse_price(value) -> Decimal:
    if value is None or value == "":
        raise InvalidProduct("missing price")
    if isinstance(value, str):
        text = value.strip()
        number = Decimal(text) if PRICE_RE.fullmatch(text) else None
    else:
        number = number_of(value)
    if number is None:
        raise InvalidProduct(f"price {show(value)} must be a non-negative number")
    if number < 0:
        raise InvalidProduct(f"price {show(value)} is negative")
    if number >= MAX_PRICE:
        raise InvalidProduct(f"price {show(value)} must be below {MAX_PRICE}")
    if number.as_tuple().exponent < -2 and number != number.quantize(Decimal("0.01")):
        raise InvalidProduct(f"price {show(value)} has more than 2 decimal places")
    return number.copy_abs()  # -0 becomes 0


def parse_stock(value) -> Decimal:
    if value is None or value == "":
        raise InvalidProduct("missing stock")
    if isinstance(value, str):
        text = value.strip()
        number = Decimal(text) if STOCK_RE.fullmatch(text) else None
    else:
        number = number_of(value)
    if number is None or number != number.to_integral_value():
        raise InvalidProduct(f"stock {show(value)} must be a whole number")
    if not 0 <= number <= MAX_STOCK:
        raise InvalidProduct(f"stock {show(value)} must be from 0 to {MAX_STOCK}")
    return Decimal(int(number))


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


# --- Step Functions ------------------------------------------------------------------------------------

def update_inventory(event: dict) -> dict:
    order_id = clean_text(event.get("orderId"), MAX_ID_LENGTH)
    if order_id is None:
        raise InvalidInventoryRequest(f"orderId {show(event.get('orderId'))} must be a non-empty string")
    quantities = order_quantities(event.get("items"))
    updated_at = now_iso()
    actions = [{"Update": {
        "TableName": PRODUCTS_TABLE_NAME,
        "Key": {"productId": product_id},
        "UpdateExpression": "SET stock = stock - :quantity, updatedAt = :updatedAt",
        "ConditionExpression": "stock >= :quantity",
        "ExpressionAttributeValues": {":quantity": quantity, ":updatedAt": updated_at},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }} for product_id, quantity in quantities.items()]
    # One token per order: DynamoDB ignores a repeat of a transaction that succeeded in the last 10 minutes.
    token = hashlib.sha256(f"inventory:{order_id}".encode("utf-8")).hexdigest()[:36]
    try:
        dynamodb.meta.client.transact_write_items(TransactItems=actions, ClientRequestToken=token)
    except ClientError as error:
        shortages = stock_shortages(error, quantities)
        if not shortages:
            log("ERROR", "inventory update failed", step="UpdateInventory", orderId=order_id,
                error=describe(error))
            raise
        log("WARNING", "insufficient stock", step="UpdateInventory", orderId=order_id, shortages=shortages)
        raise InsufficientStock(f"order {order_id}: " + "; ".join(shortages)) from None
    log("INFO", "inventory updated", step="UpdateInventory", orderId=order_id,
        products={product_id: int(quantity) for product_id, quantity in quantities.items()})
    return {"orderId": order_id, "status": INVENTORY_STATUS}


def order_quantities(items) -> dict:
    """{productId: total quantity (Decimal)} of an order's items, or InvalidInventoryRequest."""
    if not isinstance(items, list) or not items:
        raise InvalidInventoryRequest("items must be a non-empty list")
    quantities = {}
    for position, item in enumerate(items):
        where = f"items[{position}]"
        if not isinstance(item, dict):
            raise InvalidInventoryRequest(f"{where} must be an object")
        product_id = clean_text(item.get("productId"), MAX_ID_LENGTH)
        if product_id is None:
            raise InvalidInventoryRequest(f"{where}.productId {show(item.get('productId'))} must be a "
                                          "non-empty string")
        quantity = number_of(item.get("quantity"))
        if quantity is None or quantity != quantity.to_integral_value() or not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidInventoryRequest(f"{where}.quantity {show(item.get('quantity'))} must be a whole "
                                          f"number from 1 to {MAX_QUANTITY}")
        quantities[product_id] = quantities.get(product_id, Decimal(0)) + Decimal(int(quantity))
    if len(quantities) > MAX_ORDER_ITEMS:
        raise InvalidInventoryRequest(f"an order holds at most {MAX_ORDER_ITEMS} products")
    return quantities


def stock_shortages(error: ClientError, quantities: dict) -> list:
    """Why each product failed its stock condition, from a cancelled transaction; [] for other errors."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = error.response.get("CancellationReasons") or []
    shortages = []
    for (product_id, quantity), reason in zip(quantities.items(), reasons, strict=False):
        if reason.get("Code") != "ConditionalCheckFailed":
            continue
        item = reason.get("Item")
        if not item:
            shortages.append(f"product {product_id} does not exist")
            continue
        stock = item.get("stock")
        stock = _deserializer.deserialize(stock) if stock is not None else None
        shortages.append(f"product {product_id} has {plain(stock) if stock is not None else 'no'} in stock, "
                         f"the order needs {int(quantity)}")
    return shortages


# --- S3 import -----------------------------------------------------------------------------------------

def handle_s3(records: list) -> dict:
    summary = {"files": 0, "written": 0, "rejected": 0, "files_rejected": 0}
    for record in records:
        if "s3" not in record or not record.get("eventName", "").startswith("ObjectCreated"):
            log("INFO", "record skipped", reason="not an S3 ObjectCreated record",
                eventName=record.get("eventName"))
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        result = import_object(bucket, key)
        if result is None:
            continue
        summary["files"] += 1
        summary["written"] += result["written"]
        summary["rejected"] += result["rejected"]
        summary["files_rejected"] += int(result["fileError"] is not None)
    return summary


def import_object(bucket: str, key: str) -> dict | None:
    if not key.startswith(INCOMING_PREFIX) or not key.lower().endswith(".csv"):
        # Acting on processed/ objects would loop if the notification filter were wrong.
        log("WARNING", "object skipped", reason=f"not an {INCOMING_PREFIX}*.csv key", bucket=bucket, key=key)
        return None
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise
        # S3 delivers events at least once; a repeated event finds the object already moved.
        log("INFO", "object skipped", reason="object no longer exists", bucket=bucket, key=key)
        return None

    rejections = []
    try:
        products = read_products(body, rejections)
        file_error = None
    except InvalidProduct as error:
        products, file_error = [], str(error)
    write_products(products)

    destination = PROCESSED_PREFIX + key[len(INCOMING_PREFIX):]
    s3.copy_object(Bucket=bucket, Key=destination, CopySource={"Bucket": bucket, "Key": key})
    s3.delete_object(Bucket=bucket, Key=key)

    result = {"written": len(products), "rejected": len(rejections), "fileError": file_error}
    fields = {"bucket": bucket, "key": key, "movedTo": destination, **result,
              "rejections": rejections[:MAX_LOGGED_REJECTIONS]}
    if file_error:
        log("ERROR", "file not imported", **fields)
    else:
        log("WARNING" if rejections else "INFO", "file imported", **fields)
    return result


def read_products(body: bytes, rejections: list) -> list:
    """The products of the valid rows; appends {"line", "error"} to rejections for each invalid row.
    Raises InvalidProduct when the file as a whole cannot be read."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidProduct(f"file is not UTF-8 text (byte {error.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    products = []
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise InvalidProduct("file has no header row")
        columns = [cell.strip().lower() for cell in header]
        missing = [name for name in CSV_COLUMNS if name.lower() not in columns]
        if missing:
            raise InvalidProduct(f"header lacks column(s): {', '.join(missing)}")
        positions = {name: columns.index(name.lower()) for name in CSV_COLUMNS}
        updated_at = now_iso()
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            try:
                if len(cells) > len(columns):
                    raise InvalidProduct(f"{len(cells)} fields but the header has {len(columns)}")
                values = {name: cells[position] if position < len(cells) else ""
                          for name, position in positions.items()}
                products.append({**to_product(values, with_id=True), "updatedAt": updated_at})
            except InvalidProduct as error:
                rejections.append({"line": reader.line_num, "error": str(error)})
    except csv.Error as error:
        rejections.append({"line": reader.line_num,
                           "error": f"malformed CSV ({error}); the rest of the file was not read"})
    return products


def write_products(products: list) -> None:
    # overwrite_by_pkeys drops an earlier row of the same productId from a batch (DynamoDB refuses a batch
    # holding one key twice); a later batch overwrites an earlier one anyway.
    with products_table.batch_writer(overwrite_by_pkeys=["productId"]) as batch:
        for product in products:
            batch.put_item(Item=product)


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
