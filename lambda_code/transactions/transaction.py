"""The transaction record shared by the validator and the queue processors (not a handler).

A transaction, as the API accepts it (POST /transactions, a JSON object):

    transaction_id  optional; 1-64 of A-Z a-z 0-9 _ -. It is the idempotency key: sending the same
                    transaction again with the same id is answered from the table, not stored twice.
                    Without it the validator assigns a UUID.
    account_id      required; 1-64 of A-Z a-z 0-9 _ -
    amount          required; a positive decimal, as a JSON number or a string in plain notation
                    ("125.50"), with no more decimal places than the currency has (USD 2, JPY 0, KWD 3)
                    and at most MAX_AMOUNT. Parsed straight into Decimal (never float) and kept at the
                    currency's scale: 125.5 USD is "125.50".
    currency        required; an ISO 4217 code of CURRENCY_MINOR_UNITS (case-insensitive on input)
    type            required; payment, refund or transfer
    merchant_id     optional; 1-64 of A-Z a-z 0-9 _ -
    description     optional; up to 256 characters, no control characters
    timestamp       optional; ISO-8601 date and time (no offset means UTC), from the year 2000 up to
                    5 minutes ahead of the server clock; default: the time the API received it.
                    Stored as created_at, always "YYYY-MM-DDTHH:MM:SS.ffffffZ" (fixed width, so the
                    account-index GSI sorts it as text in time order).

Other fields are rejected, so that a misspelt optional field is not silently dropped.

Between the validator and the processors a transaction travels as the SQS message
{"version": 1, "transaction": {...}} with the amount as a string ("125.50"), so no consumer reads it
as a float. from_message() checks such a message as strictly as the API checks a request.
"""
from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

MESSAGE_VERSION = 1
TYPES = ("payment", "refund", "transfer")
# ISO 4217 minor units of the currencies accepted.
CURRENCY_MINOR_UNITS = {
    "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2,
    "HUF": 2, "INR": 2, "MXN": 2, "NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2, "SGD": 2, "USD": 2, "ZAR": 2,
    "CLP": 0, "ISK": 0, "JPY": 0, "KRW": 0,
    "BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3,
}
MAX_AMOUNT = Decimal("1000000000")
MAX_DESCRIPTION = 256
MAX_FUTURE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PLAIN_DECIMAL_RE = re.compile(r"[0-9]{1,30}(\.[0-9]{1,30})?")
DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
REQUEST_FIELDS = frozenset({"transaction_id", "account_id", "amount", "currency", "type", "merchant_id",
                            "description", "timestamp"})
RECORD_FIELDS = frozenset({"transaction_id", "account_id", "amount", "currency", "type", "merchant_id",
                           "description", "created_at"})
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class InvalidTransaction(ValueError):
    """A request or message that no retry can fix; errors maps each bad field to the reason."""

    def __init__(self, errors: dict):
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors.items()))
        self.errors = errors


# --- parsing -------------------------------------------------------------------------------------------

def _reject_constant(name: str):
    raise ValueError(f"{name} is not a valid JSON number here")


def loads(text: str | bytes):
    """JSON with every non-integer number as Decimal and NaN/Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def validate_request(payload, now: datetime) -> dict:
    """A POST /transactions body -> the normalised transaction (without transaction_id if none was sent).

    Raises InvalidTransaction listing every problem found.
    """
    if not isinstance(payload, dict):
        raise InvalidTransaction({"body": "must be a JSON object"})
    errors = {}
    unknown = sorted(set(payload) - REQUEST_FIELDS)
    if unknown:
        errors["body"] = f"unknown field(s): {', '.join(map(str, unknown))}"
    txn = _common(payload, errors, require_id=False)
    if payload.get("timestamp") is not None:
        created = _timestamp(payload["timestamp"], errors, "timestamp")
        if created is not None and created > now + MAX_FUTURE:
            errors["timestamp"] = "is in the future"
        elif created is not None:
            txn["created_at"] = format_time(created)
    if errors:
        raise InvalidTransaction(errors)
    return txn


def parse_transaction(data) -> dict:
    """A transaction as the validator passes it on (JSON types, amount as a string) -> normalised."""
    if not isinstance(data, dict):
        raise InvalidTransaction({"transaction": "must be a JSON object"})
    errors = {}
    unknown = sorted(set(data) - RECORD_FIELDS)
    if unknown:
        errors["transaction"] = f"unknown field(s): {', '.join(map(str, unknown))}"
    txn = _common(data, errors, require_id=True)
    if "created_at" not in data:
        errors["created_at"] = "is required"
    else:
        created = _timestamp(data["created_at"], errors, "created_at")
        if created is not None:
            txn["created_at"] = format_time(created)
    if errors:
        raise InvalidTransaction(errors)
    return txn


def from_message(body) -> dict:
    """An SQS message body written by to_message() -> the normalised transaction."""
    if not isinstance(body, str):
        raise InvalidTransaction({"body": "is not a string"})
    try:
        message = loads(body)
    except ValueError as problem:
        raise InvalidTransaction({"body": f"is not JSON ({problem})"}) from None
    if not isinstance(message, dict) or message.get("version") != MESSAGE_VERSION:
        raise InvalidTransaction({"body": f"is not a version {MESSAGE_VERSION} transaction message"})
    return parse_transaction(message.get("transaction"))


def _common(data: dict, errors: dict, require_id: bool) -> dict:
    txn = {}
    for field in ("transaction_id", "account_id", "merchant_id"):
        value = data.get(field)
        if value is None:
            if field == "account_id" or (field == "transaction_id" and require_id):
                errors[field] = "is required"
        elif not isinstance(value, str) or not ID_RE.fullmatch(value):
            errors[field] = "must be 1-64 of A-Z a-z 0-9 _ -"
        else:
            txn[field] = value

    currency = data.get("currency")
    if currency is None:
        errors["currency"] = "is required"
    elif not isinstance(currency, str) or currency.upper() not in CURRENCY_MINOR_UNITS:
        errors["currency"] = f"{currency!r} is not a supported ISO 4217 currency code"
    else:
        txn["currency"] = currency.upper()

    kind = data.get("type")
    if kind is None:
        errors["type"] = "is required"
    elif kind not in TYPES:
        errors["type"] = f"must be one of {', '.join(TYPES)}"
    else:
        txn["type"] = kind

    if "amount" not in data or data["amount"] is None:
        errors["amount"] = "is required"
    else:
        amount, problem = parse_amount(data["amount"], txn.get("currency"))
        if problem:
            errors["amount"] = problem
        else:
            txn["amount"] = amount

    description = data.get("description")
    if description is not None:
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION or CONTROL_RE.search(description):
            errors["description"] = f"must be text of at most {MAX_DESCRIPTION} characters without control characters"
        else:
            txn["description"] = description
    return txn


def parse_amount(value, currency: str | None) -> tuple[Decimal | None, str | None]:
    """(amount at the currency's scale, None) or (None, why it is not a valid amount)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        return None, "must be a number or a decimal string such as \"125.50\""
    if isinstance(value, str):
        if not PLAIN_DECIMAL_RE.fullmatch(value):
            return None, f"{value!r} is not a positive decimal in plain notation"
        value = Decimal(value)
    amount = Decimal(value)
    if not amount.is_finite() or amount <= 0:
        return None, "must be greater than 0"
    if amount > MAX_AMOUNT:
        return None, f"must be at most {MAX_AMOUNT}"
    if currency is None:
        return None, "cannot be checked without a valid currency"
    places = CURRENCY_MINOR_UNITS[currency]
    exponent = amount.normalize().as_tuple().exponent
    if exponent < -places:
        return None, f"{currency} allows {places} decimal place(s)"
    try:
        return amount.quantize(Decimal(1).scaleb(-places)), None
    except InvalidOperation:  # pragma: no cover - MAX_AMOUNT keeps this within 28 digits
        return None, "is out of range"


def _timestamp(value, errors: dict, field: str) -> datetime | None:
    if not isinstance(value, str) or not DATETIME_RE.fullmatch(value.strip()):
        errors[field] = "must be an ISO-8601 date and time, e.g. 2024-03-01T14:30:00Z"
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        errors[field] = f"{value!r} is not a valid date and time"
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    if moment < EARLIEST:
        errors[field] = "is before the year 2000"
        return None
    return moment


def format_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sqs_records(event) -> list:
    """The records of an SQS batch; anything else is a wiring mistake, not a bad message."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and r.get("eventSource") == "aws:sqs" and r.get("messageId") for r in records):
        raise ValueError("not an SQS event: expected Records from aws:sqs with messageId")
    return records


def batch_transactions(records: list) -> tuple[list, list]:
    """([(message id, transaction)], [message ids of invalid messages]) of an SQS batch; each invalid
    message is logged and will be reported back as a batch item failure."""
    valid, failures = [], []
    for record in records:
        try:
            valid.append((record["messageId"], from_message(record.get("body"))))
        except InvalidTransaction as invalid:
            failures.append(record["messageId"])
            log("WARNING", status="invalid message", message_id=record["messageId"], errors=invalid.errors)
    return valid, failures


# --- writing -------------------------------------------------------------------------------------------

def amount_text(txn: dict) -> str:
    """The amount at its currency's scale in plain notation: "125.50", "1000", "0.125"."""
    places = CURRENCY_MINOR_UNITS[txn["currency"]]
    return format(Decimal(txn["amount"]).quantize(Decimal(1).scaleb(-places)), "f")


def to_json(txn: dict) -> dict:
    """The transaction with JSON types only (amount as a string), fields in a stable order."""
    out = {field: txn[field] for field in ("transaction_id", "account_id") if field in txn}
    out.update(amount=amount_text(txn), currency=txn["currency"], type=txn["type"])
    out.update({field: txn[field] for field in ("merchant_id", "description", "created_at") if field in txn})
    return out


def to_message(txn: dict) -> str:
    return json.dumps({"version": MESSAGE_VERSION, "transaction": to_json(txn)}, sort_keys=True,
                      separators=(",", ":"))


def log(level: str, **fields) -> None:
    """One JSON log line, if level is at least LOG_LEVEL (default INFO)."""
    threshold = LEVELS.get(os.environ.get("LOG_LEVEL", "INFO").upper(), 20)
    if LEVELS[level] >= threshold:
        print(json.dumps({"level": level, **fields}, default=str, sort_keys=True), file=sys.stdout)
