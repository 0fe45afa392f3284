"""The optimized-processing handlers (validator, processor, enricher), run in-process against moto's
mock_aws on a provisioned table shaped like specs/optimized-processing.yaml's, with the events a direct or
asynchronous invocation delivers (the payload itself) and malformed ones."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.handlers.events import REGION, load_handler

TABLE = "optimized-processing-dev-records"
PATH = "lambda_code/optimized_processing/pipeline.py"
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def record(entity="meter-42", time="2024-03-01T14:30:00Z", kind="reading", **extra):
    return {"entity_id": entity, "event_time": time, "type": kind, **extra}


# --- fixtures ------------------------------------------------------------------------------------------

@pytest.fixture
def cloud(monkeypatch):
    with mock_aws():
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        table = dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "entity_id", "KeyType": "HASH"},
                       {"AttributeName": "event_time", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "entity_id", "AttributeType": "S"},
                                  {"AttributeName": "event_time", "AttributeType": "S"}],
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        )
        monkeypatch.setenv("TABLE_NAME", TABLE)
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        for name in ("MAX_BATCH", "HISTORY_WINDOW"):
            monkeypatch.delenv(name, raising=False)
        yield SimpleNamespace(table=table)


@pytest.fixture
def pipeline(cloud, monkeypatch):
    return load_handler(PATH, "optimized_processing_pipeline", monkeypatch)


def items(cloud) -> list:
    return sorted(cloud.table.scan(ConsistentRead=True)["Items"], key=lambda i: (i["entity_id"], i["event_time"]))


def stored(cloud, entity, time) -> dict | None:
    return cloud.table.get_item(Key={"entity_id": entity, "event_time": time}, ConsistentRead=True).get("Item")


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# --- record validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("2024-03-01T14:30:00Z", "2024-03-01T14:30:00.000000Z"),
    ("2024-03-01T14:30:00.123456+00:00", "2024-03-01T14:30:00.123456Z"),
    ("2024-03-01T09:30:00-05:00", "2024-03-01T14:30:00.000000Z"),        # offsets become UTC
    ("2024-03-01 14:30:00.25", "2024-03-01T14:30:00.250000Z"),           # no offset means UTC
    (" 2024-03-01T14:30:00z ", "2024-03-01T14:30:00.000000Z"),
    (1709303400, "2024-03-01T14:30:00.000000Z"),                           # epoch seconds
    (1709303400.123456, "2024-03-01T14:30:00.123456Z"),
    (0, "1970-01-01T00:00:00.000000Z"),
])
def test_event_times_are_normalised_to_fixed_width_utc(pipeline, value, expected):
    assert pipeline.parse_time(value) == expected


@pytest.mark.parametrize("value, reason", [
    ("yesterday", "not ISO-8601"),
    ("", "not ISO-8601"),
    ("2024-13-01T00:00:00Z", "not ISO-8601"),
    ("1969-12-31T23:59:59Z", "before 1970"),
    (-1, "before 1970"),
    (1e20, "out of range"),
    ("9999-12-31T23:00:00-05:00", "out of range"),
    (float("nan"), "not a time"),
    (float("inf"), "not a time"),
    (True, "not a time"),
    (None, "not a time"),
    (["2024-03-01"], "ISO-8601 string or epoch seconds"),
])
def test_bad_event_times_say_why(pipeline, value, reason):
    with pytest.raises(ValueError, match=reason):
        pipeline.parse_time(value)


def test_a_valid_record_becomes_a_typed_item(pipeline):
    item, errors = pipeline.validate_record(record(
        amount="0012.50", attributes={"unit": "kWh", "factor": 1.5, "estimated": False, "count": 3}))
    assert errors == []
    assert item == {"entity_id": "meter-42", "event_time": "2024-03-01T14:30:00.000000Z", "type": "reading",
                    "amount": Decimal("12.5"), "attributes": {"unit": "kWh", "factor": Decimal("1.5"),
                                                              "estimated": False, "count": Decimal(3)}}
    assert str(item["amount"]) == "12.5"                 # one value, one representation
    assert str(pipeline.validate_record(record(amount=1e2))[0]["amount"]) == "100"
    assert str(pipeline.validate_record(record(amount="-0.000"))[0]["amount"]) == "0"


@pytest.mark.parametrize("changes, reason", [
    ({"entity_id": ""}, "entity_id ''"),
    ({"entity_id": "-starts-with-dash"}, "entity_id '-starts-with-dash'"),
    ({"entity_id": "x" * 129}, "entity_id"),
    ({"entity_id": 42}, "entity_id 42"),
    ({"type": "Reading"}, "type 'Reading'"),
    ({"type": None}, "type None"),
    ({"amount": "12.3456789"}, "more than 6 decimal places"),
    ({"amount": "abc"}, "amount 'abc' is not a number"),
    ({"amount": "NaN"}, "not a finite number"),
    ({"amount": float("inf")}, "not a finite number"),
    ({"amount": True}, "amount must be a number, got bool"),
    ({"amount": 10 ** 15}, "too large"),
    ({"attributes": ["a"]}, "attributes must be an object"),
    ({"attributes": {"bad key": 1}}, "attribute name 'bad key'"),
    ({"attributes": {"nested": {"a": 1}}}, "attribute nested must be a string, a number or a boolean"),
    ({"attributes": {"note": "x" * 1025}}, "longer than 1024"),
    ({"attributes": {f"k{i}": i for i in range(33)}}, "at most 32"),
    ({"priority": "high"}, "unknown field 'priority'"),
])
def test_invalid_records_are_rejected_with_the_reason(pipeline, changes, reason):
    item, errors = pipeline.validate_record({**record(), **changes})
    assert item is None
    assert any(reason in error for error in errors), errors


def test_a_record_missing_everything_lists_every_problem(pipeline):
    item, errors = pipeline.validate_record({})
    assert item is None and len(errors) == 3
    assert "event_time is missing" in errors
    assert pipeline.validate_record("meter-42") == (None, ["a record must be a JSON object, got str"])


# --- validator -----------------------------------------------------------------------------------------

def test_validator_reports_valid_invalid_and_duplicate_records_and_writes_nothing(cloud, pipeline, capsys):
    cloud.table.put_item(Item={"entity_id": "meter-42", "event_time": "2024-03-01T14:30:00.000000Z",
                               "type": "reading", "status": "processed"})
    event = {"records": [
        record(time="2024-03-01T09:30:00-05:00"),                  # 0: stored already, other notation
        record(entity="meter-7", amount="3.25"),                   # 1: new
        record(entity="meter-7", time=1709303400),                 # 2: the same key as 1 in this batch
        record(entity="", amount="x"),                             # 3: invalid twice
        "not a record",                                            # 4
    ]}

    result = pipeline.validator_handler(event, None)

    assert (result["valid"], result["invalid"], result["duplicates"]) == (1, 2, 2)
    statuses = [(r["index"], r["status"]) for r in result["results"]]
    assert statuses == [(0, "duplicate"), (1, "valid"), (2, "duplicate"), (3, "invalid"), (4, "invalid")]
    assert result["results"][1]["key"] == {"entity_id": "meter-7", "event_time": "2024-03-01T14:30:00.000000Z"}
    assert len(result["results"][3]["errors"]) == 2
    assert len(items(cloud)) == 1                                   # read-only
    line, = log_lines(capsys)
    assert line["function"] == "validator" and line["invalid"] == 2 and len(line["errors"]) == 2


def test_validator_accepts_a_single_record(cloud, pipeline):
    result = pipeline.validator_handler(record(), None)
    assert (result["valid"], result["invalid"], result["duplicates"]) == (1, 0, 0)


@pytest.mark.parametrize("event, reason", [
    (["a", "list"], "must be a JSON object, got list"),
    ("text", "must be a JSON object, got str"),
    (None, "must be a JSON object, got NoneType"),
    ({}, "neither 'records' nor a record"),
    ({"records": []}, "'records' is empty"),
    ({"records": {"entity_id": "x"}}, "'records' must be a list"),
    ({"records": [record()] * 101}, "at most 100 per invocation"),
])
def test_malformed_events_fail_the_invocation(cloud, pipeline, event, reason):
    for handler in (pipeline.validator_handler, pipeline.processor_handler, pipeline.enricher_handler):
        with pytest.raises(pipeline.InvalidEventError, match=reason):
            handler(event, None)
    assert items(cloud) == []


def test_max_batch_comes_from_the_environment(cloud, pipeline, monkeypatch):
    monkeypatch.setenv("MAX_BATCH", "2")
    with pytest.raises(pipeline.InvalidEventError, match="at most 2 per invocation"):
        pipeline.processor_handler({"records": [record(time=t) for t in (1, 2, 3)]}, None)
    monkeypatch.setenv("MAX_BATCH", "not a number")          # falls back to 100
    assert pipeline.processor_handler({"records": [record(time=t) for t in (1, 2, 3)]}, None)["processed"] == 3


# --- processor -----------------------------------------------------------------------------------------

def test_processor_stores_valid_records_as_typed_items(cloud, pipeline, capsys):
    event = {"records": [
        record(amount="12.50", attributes={"unit": "kWh", "factor": 0.5}),
        record(entity="meter-7", time=1709303400.25, kind="reading.v2"),
    ]}

    assert pipeline.processor_handler(event, None) == {"processed": 2, "duplicates": 0}

    first, second = items(cloud)
    assert first["entity_id"] == "meter-42" and first["event_time"] == "2024-03-01T14:30:00.000000Z"
    assert first["amount"] == Decimal("12.5") and isinstance(first["amount"], Decimal)
    assert first["attributes"] == {"unit": "kWh", "factor": Decimal("0.5")}
    assert first["status"] == "processed" and STAMP.fullmatch(first["processed_at"])
    assert second["event_time"] == "2024-03-01T14:30:00.250000Z" and "amount" not in second
    line, = log_lines(capsys)
    assert (line["function"], line["processed"], line["duplicates"], line["invalid"]) == ("processor", 2, 0, 0)


def test_a_replayed_event_is_counted_as_duplicates_and_never_overwrites(cloud, pipeline):
    pipeline.processor_handler({"records": [record(amount="1")]}, None)
    cloud.table.update_item(Key={"entity_id": "meter-42", "event_time": "2024-03-01T14:30:00.000000Z"},
                            UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                            ExpressionAttributeValues={":s": "enriched"})

    # the same instant written differently is the same key; a second copy in the batch too
    replay = {"records": [record(time="2024-03-01T15:30:00+01:00", amount="999"), record(amount="2")]}
    assert pipeline.processor_handler(replay, None) == {"processed": 0, "duplicates": 2}

    item, = items(cloud)
    assert (item["amount"], item["status"]) == (Decimal(1), "enriched")


def test_invalid_records_fail_the_invocation_after_the_valid_ones_are_stored(cloud, pipeline, capsys):
    event = {"records": [record(), record(entity="bad id"), record(time="2024-03-01T14:31:00Z"),
                         record(amount="1.2345678")]}

    with pytest.raises(pipeline.InvalidRecordsError) as failed:
        pipeline.processor_handler(event, None)

    message = str(failed.value)
    assert message.startswith("2 of 4 records are invalid (valid ones stored)")
    assert "record 1: entity_id 'bad id'" in message and "record 3: amount" in message
    assert [i["event_time"] for i in items(cloud)] == ["2024-03-01T14:30:00.000000Z",
                                                       "2024-03-01T14:31:00.000000Z"]
    line, = log_lines(capsys)
    assert line["invalid"] == 2 and [e["index"] for e in line["errors"]] == [1, 3]

    # Lambda's retry of the same event: the stored ones are duplicates, the invalid ones fail again
    with pytest.raises(pipeline.InvalidRecordsError):
        pipeline.processor_handler(event, None)
    assert len(items(cloud)) == 2


def test_aws_errors_propagate_so_lambda_retries_and_dead_letters(cloud, pipeline, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "optimized-processing-dev-missing")
    with pytest.raises(ClientError) as failed:
        pipeline.processor_handler({"records": [record()]}, None)
    assert failed.value.response["Error"]["Code"] == "ResourceNotFoundException"


# --- enricher ------------------------------------------------------------------------------------------

def _history(pipeline):
    pipeline.processor_handler({"records": [
        record(time="2024-03-01T14:00:00Z", amount="10"),
        record(time="2024-03-01T14:10:00Z"),                             # no amount
        record(time="2024-03-01T14:20:00.5Z", amount="20"),
        record(time="2024-03-01T14:30:00Z", amount="33"),
        record(entity="meter-7", time="2024-03-01T14:25:00Z", amount="5"),
    ]}, None)


def test_enricher_adds_history_based_enrichment(cloud, pipeline, capsys):
    _history(pipeline)
    capsys.readouterr()
    keys = [{"entity_id": "meter-42", "event_time": "2024-03-01T14:30:00Z"},
            {"entity_id": "meter-42", "event_time": "2024-03-01T14:00:00+00:00"},
            {"entity_id": "meter-42", "event_time": "2024-03-01T14:10:00Z"}]

    assert pipeline.enricher_handler({"keys": keys}, None) == {"enriched": 3, "unchanged": 0}

    latest = stored(cloud, "meter-42", "2024-03-01T14:30:00.000000Z")
    assert latest["status"] == "enriched" and STAMP.fullmatch(latest["enriched_at"])
    assert latest["enrichment"] == {
        "previous_event_time": "2024-03-01T14:20:00.500000Z",
        "seconds_since_previous": Decimal("599.5"),
        "history_count": Decimal(3),                    # only meter-42, only earlier records
        "amount_delta": Decimal(13),                    # 33 - 20
        "rolling_average": Decimal(21),                 # (33 + 20 + 10) / 3: the record without amount skipped
    }
    first = stored(cloud, "meter-42", "2024-03-01T14:00:00.000000Z")["enrichment"]
    assert first == {"previous_event_time": None, "seconds_since_previous": None, "history_count": Decimal(0),
                     "amount_delta": None, "rolling_average": Decimal(10)}
    no_amount = stored(cloud, "meter-42", "2024-03-01T14:10:00.000000Z")["enrichment"]
    assert no_amount == {"previous_event_time": "2024-03-01T14:00:00.000000Z",
                         "seconds_since_previous": Decimal(600), "history_count": Decimal(1)}
    assert stored(cloud, "meter-7", "2024-03-01T14:25:00.000000Z")["status"] == "processed"   # not asked
    line, = log_lines(capsys)
    assert (line["function"], line["enriched"], line["missing"]) == ("enricher", 3, 0)


def test_rolling_average_is_rounded_to_six_places_and_window_is_configurable(cloud, pipeline, monkeypatch):
    pipeline.processor_handler({"records": [record(time=t, amount=a) for t, a in (
        (100, "1"), (200, "1"), (300, "2"), (400, "0.000001"))]}, None)
    monkeypatch.setenv("HISTORY_WINDOW", "2")

    pipeline.enricher_handler({"entity_id": "meter-42", "event_time": 400}, None)

    enrichment = stored(cloud, "meter-42", "1970-01-01T00:06:40.000000Z")["enrichment"]
    assert enrichment["history_count"] == 2                          # 300 and 200 only
    assert enrichment["rolling_average"] == Decimal(1)    # (0.000001 + 2 + 1) / 3 = 1.000000333...
    assert enrichment["amount_delta"] == Decimal("-1.999999")


def test_enricher_accepts_the_processed_batch_itself(cloud, pipeline):
    event = {"records": [record(amount="4"), record(time="2024-03-01T14:31:00Z", amount="6")]}
    pipeline.processor_handler(event, None)
    assert pipeline.enricher_handler(event, None) == {"enriched": 2, "unchanged": 0}
    assert stored(cloud, "meter-42", "2024-03-01T14:31:00.000000Z")["enrichment"]["rolling_average"] == 5


def test_enriching_twice_leaves_the_record_unchanged(cloud, pipeline):
    _history(pipeline)
    key = {"entity_id": "meter-42", "event_time": "2024-03-01T14:30:00Z"}
    pipeline.enricher_handler(key, None)
    before = stored(cloud, "meter-42", "2024-03-01T14:30:00.000000Z")
    assert pipeline.enricher_handler({"keys": [key]}, None) == {"enriched": 0, "unchanged": 1}
    assert stored(cloud, "meter-42", "2024-03-01T14:30:00.000000Z") == before


def test_records_not_stored_yet_fail_after_the_others_are_enriched(cloud, pipeline, capsys):
    _history(pipeline)
    capsys.readouterr()
    keys = [{"entity_id": "meter-42", "event_time": "2024-03-01T14:30:00Z"},
            {"entity_id": "meter-99", "event_time": "2024-03-01T14:30:00Z"}]

    with pytest.raises(pipeline.MissingRecordsError, match="1 of 2 records are not stored .*meter-99@2024-03-01T14:30:00.000000Z"):
        pipeline.enricher_handler({"keys": keys}, None)

    assert stored(cloud, "meter-42", "2024-03-01T14:30:00.000000Z")["status"] == "enriched"
    assert stored(cloud, "meter-99", "2024-03-01T14:30:00.000000Z") is None     # never created by the update
    line, = log_lines(capsys)
    assert line["missing_keys"] == [{"entity_id": "meter-99", "event_time": "2024-03-01T14:30:00.000000Z"}]


@pytest.mark.parametrize("key, reason", [
    ("meter-42", "a key must be a JSON object, got str"),
    ({"entity_id": "meter 42", "event_time": "2024-03-01T14:30:00Z"}, "entity_id 'meter 42'"),
    ({"entity_id": "meter-42"}, "event_time is missing"),
    ({"entity_id": "meter-42", "event_time": "soon"}, "event_time 'soon' is not ISO-8601"),
])
def test_invalid_keys_fail_the_invocation(cloud, pipeline, key, reason):
    _history(pipeline)
    good = {"entity_id": "meter-42", "event_time": "2024-03-01T14:30:00Z"}
    with pytest.raises(pipeline.InvalidRecordsError, match=f"1 of 2 keys are invalid: key 1: {re.escape(reason)}"):
        pipeline.enricher_handler({"keys": [good, key]}, None)
    assert stored(cloud, "meter-42", "2024-03-01T14:30:00.000000Z")["status"] == "enriched"


def test_enricher_rejects_a_keys_batch_that_is_not_a_list(cloud, pipeline):
    with pytest.raises(pipeline.InvalidEventError, match="'keys' must be a list"):
        pipeline.enricher_handler({"keys": "meter-42"}, None)
