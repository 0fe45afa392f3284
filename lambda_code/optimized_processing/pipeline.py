"""The three data-processing functions of the optimized-processing environment: validate, process, enrich.

Handlers (python3.12, boto3 and the standard library only), all in this module and all working on one
DynamoDB table keyed by ``entity_id`` (partition, S) and ``event_time`` (sort, S):

* ``pipeline.validator_handler`` (grant: table read). Checks a batch of records and reports, per record,
  ``valid``, ``invalid`` (with the reasons) or ``duplicate`` (already stored: GetItem on its key). Writes
  nothing. Returns ``{"valid": n, "invalid": n, "duplicates": n, "results": [...]}``.
* ``pipeline.processor_handler`` (grant: table write). Validates the batch and stores every valid record
  with ``status: processed`` through a conditional PutItem, so a replayed record is counted as a
  duplicate and never overwritten. Invalid records are listed in the log and then fail the invocation
  (``InvalidRecordsError``) after the valid ones are stored: on an asynchronous invocation the event is
  retried (stored records are duplicates then) and finally lands in the function's dead-letter queue,
  never lost silently. Returns ``{"processed": n, "duplicates": n}``.
* ``pipeline.enricher_handler`` (grant: table read_write). For each key, reads the stored record
  (GetItem), the entity's previous records (Query, newest first, HISTORY_WINDOW of them) and writes
  ``enrichment`` and ``status: enriched`` with UpdateItem. A record already enriched is unchanged; a
  record not stored (yet) fails the invocation after the others are done, so the asynchronous retries
  pick it up once the processor has written it, and the dead-letter queue gets it otherwise.

Events (direct or asynchronous invocation):
    {"records": [record, ...]}      1 to MAX_BATCH records (enricher: records or keys)
    {"keys": [{"entity_id": ..., "event_time": ...}, ...]}   enricher only
    record                          a single record (a JSON object with entity_id)
Anything else (not a JSON object, an empty or oversized batch, a batch that is not a list) raises
``InvalidEventError``: the caller sees it, an asynchronous invocation dead-letters it.

A record is valid when:
    entity_id   string of 1-128 characters: a letter or digit, then letters, digits, '.', '_', ':' or '-'
    event_time  ISO-8601 (no offset means UTC) or epoch seconds (a number, not a boolean), from
                1970-01-01 to 9999-12-31; stored as UTC 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width, so the
                sort key orders by time and one instant is one key)
    type        string of 1-64 characters: a lower-case letter, then lower-case letters, digits, '.', '_', '-'
    amount      optional: a number or decimal string, finite, |amount| < 10^15, at most 6 decimal places;
                stored as Decimal, never float
    attributes  optional: an object of at most 32 entries; keys of 1-64 characters of letters, digits,
                '.', '_', '-'; values strings (at most 1024 characters), finite numbers or booleans
Other fields are rejected, so that nothing unexpected reaches the table.

Enrichment (a map): ``previous_event_time`` (or null), ``seconds_since_previous`` (Decimal or null),
``history_count`` (previous records read, at most HISTORY_WINDOW), and when the record has an amount:
``amount_delta`` (against the latest previous record with an amount, or null) and ``rolling_average``
(of the amounts in the window and this one, 6 decimal places).

Environment:
    TABLE_NAME      DynamoDB table (required)
    MAX_BATCH       records per invocation, default 100
    HISTORY_WINDOW  previous records the enricher reads, default 10

Every invocation logs one JSON line with its counts (and the reasons of invalid records).
"""
from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

ENTITY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
TYPE_RE = re.compile(r"[a-z][a-z0-9._-]{0,63}")
ATTRIBUTE_KEY_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
FIELDS = frozenset({"entity_id", "event_time", "type", "amount", "attributes"})
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_LENGTH = 1024
AMOUNT_LIMIT = Decimal(10) ** 15
MICRO = Decimal("0.000001")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class InvalidEventError(ValueError):
    """The event is not a batch of records this function accepts."""


class InvalidRecordsError(ValueError):
    """Some records of the batch are invalid; the valid ones were handled."""


class MissingRecordsError(LookupError):
    """Some keys given to the enricher are not stored (yet)."""


# --- configuration and clients -----------------------------------------------------------------------

_table = None


def table():
    """The table resource, created on first use (after the environment is known)."""
    global _table
    name = os.environ["TABLE_NAME"]
    if _table is None or _table.name != name:
        _table = boto3.resource("dynamodb").Table(name)
    return _table


def _int_setting(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "")
    try:
        value = int(raw) if raw.strip() else default
    except ValueError:
        return default
    return min(max(value, low), high)


def max_batch() -> int:
    return _int_setting("MAX_BATCH", 100, 1, 1000)


def history_window() -> int:
    return _int_setting("HISTORY_WINDOW", 10, 1, 100)


def now() -> str:
    return datetime.now(timezone.utc).strftime(TIME_FORMAT)


def log(**fields) -> None:
    print(json.dumps(fields, default=str, sort_keys=True))


# --- validation ----------------------------------------------------------------------------------------

def parse_time(value) -> str:
    """ISO-8601 or epoch seconds -> 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC); ValueError with the reason."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"event_time {value!r} is not a time")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"event_time {value!r} is not a time")
        seconds = Decimal(str(value))
        if seconds < 0:
            raise ValueError(f"event_time {value!r} is before 1970")
        try:
            instant = EPOCH + _seconds(seconds)
        except OverflowError:
            raise ValueError(f"event_time {value!r} is out of range (1970 to 9999)") from None
    elif isinstance(value, str):
        text = value.strip()
        try:
            instant = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
        except ValueError:
            raise ValueError(f"event_time {value!r} is not ISO-8601") from None
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=timezone.utc)
        try:
            instant = instant.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError(f"event_time {value!r} is out of range (1970 to 9999)") from None
    else:
        raise ValueError(f"event_time must be an ISO-8601 string or epoch seconds, got {type(value).__name__}")
    if instant < EPOCH:
        raise ValueError(f"event_time {value!r} is before 1970")
    return instant.strftime(TIME_FORMAT)


def _seconds(seconds: Decimal) -> timedelta:
    whole = int(seconds)
    micros = int(((seconds - whole) * 1_000_000).to_integral_value(ROUND_HALF_EVEN))
    return timedelta(seconds=whole, microseconds=micros)


def _number(value, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{what} {value!r} is not a finite number")
    if abs(number) >= AMOUNT_LIMIT:
        raise ValueError(f"{what} {value!r} is too large (at most 15 integer digits)")
    if number != number.quantize(MICRO, rounding=ROUND_HALF_EVEN):
        raise ValueError(f"{what} {value!r} has more than 6 decimal places")
    return _plain(number)


def _plain(number: Decimal) -> Decimal:
    """One value, one representation: no trailing zeros, no exponent (0.50 -> 0.5, 1E+2 -> 100)."""
    if number == 0:
        return Decimal(0)
    normal = number.normalize()
    return normal.quantize(Decimal(1)) if normal.as_tuple().exponent > 0 else normal


def validate_record(record) -> tuple[dict | None, list[str]]:
    """(the item to store, []) or (None, [reasons])."""
    if not isinstance(record, dict):
        return None, [f"a record must be a JSON object, got {type(record).__name__}"]
    errors = [f"unknown field '{name}'" for name in sorted(set(record) - FIELDS, key=str)]
    item: dict = {}
    entity = record.get("entity_id")
    if not isinstance(entity, str) or not ENTITY_RE.fullmatch(entity):
        errors.append(f"entity_id {entity!r} must be 1-128 letters, digits, '.', '_', ':' or '-'")
    else:
        item["entity_id"] = entity
    if "event_time" not in record:
        errors.append("event_time is missing")
    else:
        try:
            item["event_time"] = parse_time(record["event_time"])
        except ValueError as exc:
            errors.append(str(exc))
    kind = record.get("type")
    if not isinstance(kind, str) or not TYPE_RE.fullmatch(kind):
        errors.append(f"type {kind!r} must be 1-64 lower-case letters, digits, '.', '_' or '-'")
    else:
        item["type"] = kind
    if record.get("amount") is not None:
        try:
            item["amount"] = _number(record["amount"], "amount")
        except ValueError as exc:
            errors.append(str(exc))
    if record.get("attributes") is not None:
        attributes, problems = _attributes(record["attributes"])
        errors.extend(problems)
        if attributes:
            item["attributes"] = attributes
    return (None, errors) if errors else (item, [])


def _attributes(value) -> tuple[dict, list[str]]:
    if not isinstance(value, dict):
        return {}, [f"attributes must be an object, got {type(value).__name__}"]
    if len(value) > MAX_ATTRIBUTES:
        return {}, [f"attributes has {len(value)} entries, at most {MAX_ATTRIBUTES}"]
    out, errors = {}, []
    for key, item in value.items():
        if not ATTRIBUTE_KEY_RE.fullmatch(key):
            errors.append(f"attribute name {key!r} must be 1-64 letters, digits, '.', '_' or '-'")
        elif isinstance(item, bool):
            out[key] = item
        elif isinstance(item, str):
            if len(item) > MAX_ATTRIBUTE_LENGTH:
                errors.append(f"attribute {key} is longer than {MAX_ATTRIBUTE_LENGTH} characters")
            else:
                out[key] = item
        elif isinstance(item, (int, float)):
            try:
                out[key] = _number(item, f"attribute {key}")
            except ValueError as exc:
                errors.append(str(exc))
        else:
            errors.append(f"attribute {key} must be a string, a number or a boolean, "
                          f"got {type(item).__name__}")
    return out, errors


def batch(event, *, key: str = "records") -> list:
    """The list of records (or keys) of an event; InvalidEventError when the event is not a batch."""
    if not isinstance(event, dict):
        raise InvalidEventError(f"the event must be a JSON object, got {type(event).__name__}")
    if key in event:
        records = event[key]
        if not isinstance(records, list):
            raise InvalidEventError(f"'{key}' must be a list, got {type(records).__name__}")
        if not records:
            raise InvalidEventError(f"'{key}' is empty")
        if len(records) > max_batch():
            raise InvalidEventError(f"'{key}' has {len(records)} entries, at most {max_batch()} per invocation")
        return records
    if "entity_id" in event:
        return [event]
    raise InvalidEventError(f"the event has neither '{key}' nor a record (entity_id)")


def _key_of(item: dict) -> dict:
    return {"entity_id": item["entity_id"], "event_time": item["event_time"]}


# --- validator -----------------------------------------------------------------------------------------

def validator_handler(event, context):
    records = batch(event)
    results, counts = [], {"valid": 0, "invalid": 0, "duplicates": 0}
    seen = set()
    for index, record in enumerate(records):
        item, errors = validate_record(record)
        if errors:
            counts["invalid"] += 1
            results.append({"index": index, "status": "invalid", "errors": errors})
            continue
        key = _key_of(item)
        identity = (key["entity_id"], key["event_time"])
        stored = identity in seen or "Item" in table().get_item(
            Key=key, ProjectionExpression="#e", ExpressionAttributeNames={"#e": "entity_id"})
        seen.add(identity)
        status = "duplicate" if stored else "valid"
        counts["duplicates" if stored else "valid"] += 1
        results.append({"index": index, "status": status, "key": key})
    log(function="validator", **counts,
        errors=[r for r in results if r["status"] == "invalid"])
    return {**counts, "results": results}


# --- processor -----------------------------------------------------------------------------------------

def processor_handler(event, context):
    records = batch(event)
    invalid, processed, duplicates = [], 0, 0
    stamp = now()
    for index, record in enumerate(records):
        item, errors = validate_record(record)
        if errors:
            invalid.append({"index": index, "errors": errors})
            continue
        try:
            table().put_item(
                Item={**item, "status": "processed", "processed_at": stamp},
                ConditionExpression="attribute_not_exists(entity_id)",
            )
            processed += 1
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            duplicates += 1
    log(function="processor", processed=processed, duplicates=duplicates, invalid=len(invalid), errors=invalid)
    if invalid:
        raise InvalidRecordsError(
            f"{len(invalid)} of {len(records)} records are invalid (valid ones stored): "
            + "; ".join(f"record {e['index']}: {', '.join(e['errors'])}" for e in invalid[:10]))
    return {"processed": processed, "duplicates": duplicates}


# --- enricher ------------------------------------------------------------------------------------------

def _enricher_keys(event) -> list:
    if isinstance(event, dict) and "keys" in event:
        return batch(event, key="keys")
    return batch(event)


def _parse_key(value) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"a key must be a JSON object, got {type(value).__name__}")
    entity = value.get("entity_id")
    if not isinstance(entity, str) or not ENTITY_RE.fullmatch(entity):
        raise ValueError(f"entity_id {entity!r} must be 1-128 letters, digits, '.', '_', ':' or '-'")
    if "event_time" not in value:
        raise ValueError("event_time is missing")
    return {"entity_id": entity, "event_time": parse_time(value["event_time"])}


def _elapsed(earlier: str, later: str) -> Decimal:
    delta = datetime.strptime(later, TIME_FORMAT) - datetime.strptime(earlier, TIME_FORMAT)
    return _plain(Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 1_000_000)


def enrichment(item: dict, history: list) -> dict:
    """The enrichment of a stored item from its entity's previous items, newest first."""
    previous = history[0] if history else None
    out = {
        "previous_event_time": previous["event_time"] if previous else None,
        "seconds_since_previous": _elapsed(previous["event_time"], item["event_time"]) if previous else None,
        "history_count": len(history),
    }
    if item.get("amount") is not None:
        amounts = [h["amount"] for h in history if h.get("amount") is not None]
        out["amount_delta"] = _plain(item["amount"] - amounts[0]) if amounts else None
        window = [item["amount"], *amounts]
        average = sum(window, Decimal(0)) / len(window)
        out["rolling_average"] = _plain(average.quantize(MICRO, rounding=ROUND_HALF_EVEN))
    return out


def _history(key: dict) -> list:
    found = table().query(
        KeyConditionExpression=Key("entity_id").eq(key["entity_id"]) & Key("event_time").lt(key["event_time"]),
        ScanIndexForward=False, Limit=history_window(),
        ProjectionExpression="#t, #a", ExpressionAttributeNames={"#t": "event_time", "#a": "amount"},
    )
    return found["Items"]


def enricher_handler(event, context):
    entries = _enricher_keys(event)
    enriched, unchanged, invalid, missing = 0, 0, [], []
    stamp = now()
    for index, entry in enumerate(entries):
        try:
            key = _parse_key(entry)
        except ValueError as exc:
            invalid.append({"index": index, "errors": [str(exc)]})
            continue
        item = table().get_item(Key=key, ConsistentRead=True).get("Item")
        if item is None:
            missing.append({"index": index, "key": key})
            continue
        if item.get("status") == "enriched":
            unchanged += 1
            continue
        try:
            table().update_item(
                Key=key,
                UpdateExpression="SET enrichment = :e, #status = :s, enriched_at = :t",
                ConditionExpression="attribute_exists(entity_id)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":e": enrichment(item, _history(key)), ":s": "enriched", ":t": stamp},
            )
            enriched += 1
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            missing.append({"index": index, "key": key})    # deleted between read and update
    log(function="enricher", enriched=enriched, unchanged=unchanged, invalid=len(invalid),
        missing=len(missing), errors=invalid, missing_keys=[m["key"] for m in missing])
    if invalid:
        raise InvalidRecordsError(
            f"{len(invalid)} of {len(entries)} keys are invalid: "
            + "; ".join(f"key {e['index']}: {', '.join(e['errors'])}" for e in invalid[:10]))
    if missing:
        raise MissingRecordsError(
            f"{len(missing)} of {len(entries)} records are not stored (yet): "
            + ", ".join(f"{m['key']['entity_id']}@{m['key']['event_time']}" for m in missing[:10]))
    return {"enriched": enriched, "unchanged": unchanged}
