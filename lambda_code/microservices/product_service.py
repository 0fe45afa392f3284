"""Product service of the microservices environment.

Handler: ``product_service.handler`` (boto3, the standard library and service.py). Three kinds of invocation:

* API Gateway REST API, Lambda proxy integration (payload format 1.0):

    POST /products  Body: {"name", "category", "price", "stock"}. name (at most 200 characters) and
                    category (at most 100) are non-empty strings; price a non-negative number (a JSON
                    number or a string such as "19.99") with at most 2 decimal places, below
                    1,000,000,000; stock a non-negative integer (at most 10^12). Stores the product with a
                    new productId (UUID4), price and stock as Decimal, createdAt and updatedAt (UTC
                    ISO-8601). 201 the product; 400 a bad body.
    GET  /products  ?productId=ID reads one product (200, or 404); otherwise ?category=NAME lists the
                    category through category-index, with optional limit and nextToken: 200
                    {"products": [...], "count", "nextToken"}. 400 neither parameter, bad limit or
                    nextToken.

  Responses, errors, the body, limit and nextToken, 404 for an unknown resource, 405 for another method
  on /products and AWS errors are handled as service.py describes.

* Step Functions, the UpdateInventory task (arn:aws:states:::lambda:invoke, Payload.$ = $): an event with
  orderId and items ([{"productId", "quantity"}, ...], normally ProcessOrder's output). Every product's
  stock is decremented by its quantity (quantities of a product listed twice are added up) in one
  DynamoDB transaction of conditional updates (stock >= quantity): either every stock changes or none.
  When a product lacks the stock, or does not exist, InsufficientStock is raised naming it, and no stock
  changes. The transaction's ClientRequestToken is derived from the orderId, so a retried task that had
  already succeeded within DynamoDB's 10-minute idempotency window does not decrement twice. Returns
  {"orderId", "status": "INVENTORY_UPDATED"}. A malformed event raises InvalidInventoryRequest. The whole
  output of a previous lambda:invoke task is unwrapped (see service.py).

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
is a customer managed one.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from decimal import Decimal
from urllib.parse import unquote_plus

import boto3
import service
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from service import (
    MAX_ID_LENGTH,
    MAX_QUANTITY,
    ClientFault,
    clean_text,
    describe,
    handle_api,
    json_body,
    now_iso,
    number_of,
    plain,
    query_page,
    show,
    text_problem,
    unwrap_task_output,
)

SERVICE = "product-service"
CATEGORY_INDEX = "category-index"
INCOMING_PREFIX = "incoming/"
PROCESSED_PREFIX = "processed/"
CSV_COLUMNS = ("productId", "name", "category", "price", "stock")
INVENTORY_STATUS = "INVENTORY_UPDATED"
MAX_NAME_LENGTH = 200
MAX_CATEGORY_LENGTH = 100
MAX_STOCK = 10 ** 12
MAX_ORDER_ITEMS = 100  # DynamoDB transactions hold at most 100 actions
STOCK_RE = re.compile(r"\d+")
MAX_LOGGED_REJECTIONS = 100

dynamodb = boto3.resource("dynamodb")
s3 = boto3.client("s3")
PRODUCTS_TABLE_NAME = service.required_env("PRODUCTS_TABLE_NAME")
products_table = dynamodb.Table(PRODUCTS_TABLE_NAME)
_deserializer = TypeDeserializer()
log = service.Log(SERVICE)


class InvalidProduct(ValueError):
    """A product (API body or CSV row) that retrying cannot fix."""


class InsufficientStock(Exception):
    """UpdateInventory: a product of the order lacks the stock, or does not exist; nothing was changed."""


class InvalidInventoryRequest(ValueError):
    """UpdateInventory: the input has no usable orderId or items."""


class UnsupportedEvent(ValueError):
    """An event that is neither an API Gateway request, an S3 notification nor an UpdateInventory input."""


def handler(event, context):
    log.start(context)
    event = unwrap_task_output(event)
    if isinstance(event, dict) and "httpMethod" in event:
        return handle_api(event, ROUTES, log)
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        return handle_s3(event["Records"])
    if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
        log("INFO", "S3 test event ignored", bucket=event.get("Bucket"))
        return {"files": 0, "written": 0, "rejected": 0, "files_rejected": 0}
    if isinstance(event, dict) and "orderId" in event and "items" in event:
        return update_inventory(event)
    log("ERROR", "unsupported event", eventKeys=service.event_shape(event))
    raise UnsupportedEvent("expected an API Gateway proxy request, an S3 notification or an "
                           "UpdateInventory input with orderId and items")


# --- API -----------------------------------------------------------------------------------------------

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
        products, next_token = query_page(products_table, "productId", CATEGORY_INDEX, "category", category,
                                          query)
        return 200, {"products": products, "count": len(products), "nextToken": next_token}
    raise ClientFault(400, "give the query parameter productId or category")


ROUTES = {"/products": {"POST": create_product, "GET": get_products}}


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
        raise InvalidProduct(text_problem(name, value, max_length))
    return text


def parse_price(value) -> Decimal:
    if value is None or value == "":
        raise InvalidProduct("missing price")
    return service.parse_price(value, "price", InvalidProduct)


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
