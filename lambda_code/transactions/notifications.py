"""Notification handler: publishes large transactions to the notifications topic.

Handler: ``notifications.handler``. Invoked asynchronously by the transaction validator with

    {"reason": "large_amount", "threshold": "10000", "transaction": {...}}

where transaction is the validator's JSON form (amount as a decimal string, see transaction.py). It
publishes one message to TOPIC_ARN:

    Subject   "Large payment: 25000.00 USD on account ACC-1" (ASCII, at most 100 characters)
    Message   {"reason", "threshold", "transaction"} as JSON, amounts as strings
    MessageAttributes  reason, currency, type and account_id (String), for subscription filter policies

and returns {"message_id": ...}.

An event that is not such a notification (not an object, unknown reason, invalid transaction) raises
InvalidNotification: the invocation fails, Lambda retries it (async config: 2 retries) and then sends
it to the function's dead-letter queue, where it can be inspected; it also counts in the error-rate
alarm. SNS errors propagate the same way.

Environment:
    TOPIC_ARN   the notifications topic (required)
    LOG_LEVEL   DEBUG, INFO (default), WARNING or ERROR
"""
from __future__ import annotations

import json
import os
from decimal import Decimal

import boto3
import transaction
from transaction import InvalidTransaction, log

REASONS = ("large_amount",)
MAX_SUBJECT = 100

sns = boto3.client("sns")


class InvalidNotification(ValueError):
    """An event this handler cannot turn into a notification; retrying does not help."""


def handler(event, context):
    if not isinstance(event, dict):
        raise InvalidNotification("event must be a JSON object")
    reason = event.get("reason")
    if reason not in REASONS:
        raise InvalidNotification(f"unknown reason {reason!r}; expected one of {', '.join(REASONS)}")
    try:
        txn = transaction.parse_transaction(event.get("transaction"))
    except InvalidTransaction as invalid:
        raise InvalidNotification(f"invalid transaction: {invalid}") from None
    threshold = event.get("threshold")
    if threshold is not None:
        try:
            value = Decimal(str(threshold))
        except ArithmeticError:
            value = None
        if value is None or not value.is_finite() or isinstance(threshold, bool):
            raise InvalidNotification(f"threshold {threshold!r} is not a number")
        threshold = format(value, "f")

    data = transaction.to_json(txn)
    message = {"reason": reason, "threshold": threshold, "transaction": data}
    published = sns.publish(
        TopicArn=os.environ["TOPIC_ARN"],
        Subject=subject(txn),
        Message=json.dumps(message, sort_keys=True),
        MessageAttributes={name: {"DataType": "String", "StringValue": value} for name, value in (
            ("reason", reason), ("currency", txn["currency"]), ("type", txn["type"]),
            ("account_id", txn["account_id"]))},
    )
    log("INFO", status="notified", reason=reason, transaction_id=txn["transaction_id"],
        message_id=published["MessageId"])
    return {"message_id": published["MessageId"]}


def subject(txn: dict) -> str:
    """SNS subjects must be ASCII without line breaks, at most 100 characters; the ids are ASCII already."""
    text = f"Large {txn['type']}: {transaction.amount_text(txn)} {txn['currency']} on account {txn['account_id']}"
    return text if len(text) <= MAX_SUBJECT else text[:MAX_SUBJECT - 3] + "..."
