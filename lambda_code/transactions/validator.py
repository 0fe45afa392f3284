"""Transaction validator: POST /transactions (API Gateway REST API, Lambda proxy integration, payload 1.0).

Handler: ``validator.handler``.

The body is one transaction as a JSON object (see transaction.py for the fields and rules), sent as
application/json (a body marked isBase64Encoded is decoded first). Amounts are parsed into Decimal and
never pass through float. A valid transaction is

1. stored in TRANSACTIONS_TABLE (partition key transaction_id) with a conditional put, so that an id is
   stored once: the item holds the transaction (amount as a Decimal at the currency's scale), status
   "accepted", received_at and a fingerprint of what the client sent;
2. sent to ANALYTICS_QUEUE_URL and REPORTING_QUEUE_URL as {"version": 1, "transaction": {...}};
3. when its amount is at least LARGE_AMOUNT_THRESHOLD (in the transaction's own currency), handed to
   NOTIFICATION_FUNCTION with an asynchronous invoke: {"reason": "large_amount", "threshold": "10000",
   "transaction": {...}};
4. marked published_at in the table.

Idempotency: the same transaction_id with the same content is answered 200 with the stored transaction;
if an earlier attempt failed between steps 1 and 4 (no published_at), steps 2-4 are run again, so the
queues see it at least once. The same id with different content is 409. A client that omits
transaction_id gets a new UUID, and therefore no idempotency.

Responses ({"statusCode", "headers", "body": JSON}):
    201 {"status": "accepted", "transaction": {...}}     stored now
    200 {"status": "accepted", "transaction": {...}}     a repeat of a stored transaction
    400 {"error", "details": {field: reason}}            not JSON, not an object, invalid fields
    405 method other than POST; 409 id already used for another transaction; 413 body over 64 KiB;
    415 a Content-Type other than JSON.
AWS errors are not caught: the invocation fails (API Gateway answers 502), it counts in the function's
Errors metric, and a client retry with the same transaction_id completes the work.

Environment:
    TRANSACTIONS_TABLE      table name (required)
    ANALYTICS_QUEUE_URL     analytics queue (required)
    REPORTING_QUEUE_URL     reporting queue (required)
    NOTIFICATION_FUNCTION   optional; function for large transactions (no notification without it)
    LARGE_AMOUNT_THRESHOLD  default 10000
    LOG_LEVEL               DEBUG, INFO (default), WARNING or ERROR
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import boto3
import transaction
from botocore.exceptions import ClientError
from transaction import InvalidTransaction, log

MAX_BODY_BYTES = 64 * 1024
DEFAULT_THRESHOLD = "10000"

dynamodb = boto3.resource("dynamodb")
sqs = boto3.client("sqs")
lambda_client = boto3.client("lambda")


def handler(event, context, now: datetime | None = None):
    now = now or datetime.now(timezone.utc)
    if not isinstance(event, dict):
        return error(400, "not an API Gateway proxy event")
    method = event.get("httpMethod") or "POST"
    if method != "POST":
        return error(405, f"method {method} is not allowed; use POST", headers={"Allow": "POST"})
    content_type = _header(event, "content-type")
    if content_type and content_type.split(";")[0].strip().lower() not in ("application/json", "text/json"):
        return error(415, f"Content-Type {content_type} is not supported; send application/json")

    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return error(400, "body is not valid base64")
    else:
        raw = body.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        return error(413, f"body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    if not raw.strip():
        return error(400, "empty body: send the transaction as a JSON object")
    try:
        payload = transaction.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as problem:
        return error(400, f"body is not valid JSON: {problem}")

    try:
        txn = transaction.validate_request(payload, now)
    except InvalidTransaction as invalid:
        log("INFO", status="rejected", errors=invalid.errors)
        return error(400, "invalid transaction", details=invalid.errors)

    fingerprint = _fingerprint(txn)
    txn.setdefault("transaction_id", str(uuid.uuid4()))
    txn.setdefault("created_at", transaction.format_time(now))
    table = dynamodb.Table(os.environ["TRANSACTIONS_TABLE"])
    item = {**txn, "status": "accepted", "fingerprint": fingerprint, "received_at": transaction.format_time(now)}
    status = 201
    try:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(transaction_id)")
    except ClientError as failure:
        if failure.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        stored = table.get_item(Key={"transaction_id": txn["transaction_id"]}, ConsistentRead=True).get("Item")
        if stored is None:   # deleted in between: let the client retry
            raise
        if stored.get("fingerprint") != fingerprint:
            log("INFO", status="conflict", transaction_id=txn["transaction_id"])
            return error(409, f"transaction_id {txn['transaction_id']} is already used by another transaction")
        txn, status = _from_item(stored), 200
        if stored.get("published_at"):
            log("INFO", status="repeat", transaction_id=txn["transaction_id"])
            return response(200, {"status": "accepted", "transaction": transaction.to_json(txn)})

    notified = publish(txn)
    table.update_item(Key={"transaction_id": txn["transaction_id"]}, UpdateExpression="SET published_at = :now",
                      ExpressionAttributeValues={":now": transaction.format_time(datetime.now(timezone.utc))})
    log("INFO", status="accepted" if status == 201 else "republished", transaction_id=txn["transaction_id"],
        amount=transaction.amount_text(txn), currency=txn["currency"], type=txn["type"], notified=notified)
    return response(status, {"status": "accepted", "transaction": transaction.to_json(txn)})


def publish(txn: dict) -> bool:
    """Queues the transaction for analytics and reporting; returns whether a notification was sent."""
    body = transaction.to_message(txn)
    attributes = {"currency": {"DataType": "String", "StringValue": txn["currency"]},
                  "type": {"DataType": "String", "StringValue": txn["type"]}}
    for variable in ("ANALYTICS_QUEUE_URL", "REPORTING_QUEUE_URL"):
        sqs.send_message(QueueUrl=os.environ[variable], MessageBody=body, MessageAttributes=attributes)
    function = os.environ.get("NOTIFICATION_FUNCTION")
    threshold = Decimal(os.environ.get("LARGE_AMOUNT_THRESHOLD") or DEFAULT_THRESHOLD)
    if not function or txn["amount"] < threshold:
        return False
    payload = {"reason": "large_amount", "threshold": format(threshold, "f"), "transaction": transaction.to_json(txn)}
    lambda_client.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode())
    return True


def _fingerprint(txn: dict) -> str:
    """What the client sent, normalised (so "125.5" and 125.50 are the same transaction)."""
    canonical = json.dumps(transaction.to_json(txn), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _from_item(item: dict) -> dict:
    """A stored item -> the transaction (DynamoDB drops trailing zeros: 125.50 comes back as 125.5)."""
    txn = {field: item[field] for field in transaction.RECORD_FIELDS if field in item}
    txn["amount"] = Decimal(txn["amount"])
    return txn


def _header(event: dict, name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def response(status: int, payload, headers: dict | None = None) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(payload)}


def error(status: int, message: str, details: dict | None = None, headers: dict | None = None) -> dict:
    payload = {"error": message}
    if details:
        payload["details"] = details
    return response(status, payload, headers)
