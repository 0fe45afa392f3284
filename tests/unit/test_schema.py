"""The JSON Schema and load_spec: descriptions, defaults, typed references, environments, diagnostics."""
from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from provisioner.cli import cli
from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from provisioner.spec.refs import Ref, Template
from provisioner.spec.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]
HEADER = "version: 1\nproject: shop\nenvironment: dev\n"


def spec_of(body: str, environment=None, header=HEADER):
    return load_spec("spec.yaml", default_registry(), environment=environment,
                     text=header + textwrap.dedent(body).lstrip("\n"))


def diagnostics_of(body: str, header=HEADER):
    with pytest.raises(SpecError) as caught:
        spec_of(body, header=header)
    return caught.value.diagnostics


# --- the schema itself ---

def _walk(schema, where="#"):
    """Yield (location, subschema) for every schema object inside schema."""
    if isinstance(schema, dict):
        yield where, schema
        for key, value in schema.items():
            if key in ("properties", "$defs", "patternProperties"):
                for name, sub in value.items():
                    yield from _walk(sub, f"{where}/{key}/{name}")
            elif key in ("items", "additionalProperties", "propertyNames", "not", "unevaluatedProperties"):
                yield from _walk(value, f"{where}/{key}")
            elif key in ("allOf", "anyOf", "oneOf"):
                for index, sub in enumerate(value):
                    yield from _walk(sub, f"{where}/{key}/{index}")


def test_schema_is_a_valid_json_schema():
    schema = load_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_every_property_and_definition_has_a_description():
    schema = load_schema()
    missing = []
    for where, sub in _walk(schema):
        for name, prop in sub.get("properties", {}).items():
            if not (isinstance(prop, dict) and prop.get("description", "").strip()):
                missing.append(f"{where}/properties/{name}")
    for name, definition in schema["$defs"].items():
        if not definition.get("description", "").strip():
            missing.append(f"#/$defs/{name}")
    assert not missing, missing
    # the walk really covers the nested definitions
    visited = {where for where, _ in _walk(schema)}
    assert "#/$defs/sqs_queue/properties/dead_letter/properties/max_receive_count" in visited
    assert "#/$defs/policy_statement/properties/Condition" in visited


def test_every_x_ref_names_a_kind_of_the_schema():
    schema = load_schema()
    targets = {sub["x-ref"] for _, sub in _walk(schema) if "x-ref" in sub}
    assert {"kms_keys", "sqs_queues", "dynamodb_tables", "s3_buckets"} <= targets
    assert targets <= set(schema["properties"])


def test_schema_command_prints_the_packaged_schema():
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    packaged = json.loads(resources.files("provisioner").joinpath("spec/spec.schema.json").read_text())
    assert json.loads(result.output) == packaged


def test_example_spec_is_valid():
    spec = load_spec(str(ROOT / "specs" / "example.yaml"), default_registry())
    assert set(spec.nodes) == {"kms_keys.data", "sqs_queues.orders-dlq", "sqs_queues.orders",
                               "sns_topics.order-events", "dynamodb_tables.orders", "s3_buckets.receipts",
                               "log_groups.order-worker", "iam_roles.order-worker",
                               "lambda_functions.order-processor", "iam_roles.order-processor-role",
                               "log_groups.order-processor-logs", "dynamodb_tables.daily-totals"}
    assert not spec.warnings


# --- defaults ---

def test_schema_defaults_are_filled():
    spec = spec_of("""
        kms_keys:
          data: {}
        sqs_queues:
          orders:
            dead_letter: {queue: dlq}
          dlq:
            retention_seconds: 1209600
        sns_topics:
          events:
            subscriptions: [{sqs_queue: orders}]
        dynamodb_tables:
          t:
            partition_key: {name: id, type: S}
        """)
    queue = spec.node("sqs_queues.orders").props
    assert queue["visibility_timeout"] == 30
    assert queue["retention_seconds"] == 345600
    assert queue["fifo"] is False
    assert queue["dead_letter"]["max_receive_count"] == 3
    assert "kms_key" not in queue   # no default: SSE-SQS
    key = spec.node("kms_keys.data").props
    assert (key["rotation"], key["rotation_period_days"], key["deletion_window_days"]) == (True, 365, 30)
    assert spec.node("sns_topics.events").props["subscriptions"][0]["raw_message_delivery"] is False
    table = spec.node("dynamodb_tables.t").props
    assert (table["billing"], table["stream"], table["ttl_attribute"]) == ("on_demand", "disabled", None)
    assert table["point_in_time_recovery"] is True
    assert table["global_indexes"] == {} and table["local_indexes"] == {}


def test_index_projection_default():
    spec = spec_of("""
        dynamodb_tables:
          t:
            partition_key: {name: id, type: S}
            global_indexes:
              by-x: {partition_key: {name: x, type: S}}
        """)
    assert spec.node("dynamodb_tables.t").props["global_indexes"]["by-x"]["projection"] == "all"


def test_defaults_section_merges_and_the_resource_wins():
    spec = spec_of("""
        defaults:
          sqs_queues:
            visibility_timeout: 60
            delay_seconds: 5
            tags: {Team: shop, Tier: standard}
        sqs_queues:
          plain: {}
          special:
            visibility_timeout: 90
            tags: {Tier: gold}
        """)
    plain, special = spec.node("sqs_queues.plain"), spec.node("sqs_queues.special")
    assert (plain.props["visibility_timeout"], plain.props["delay_seconds"]) == (60, 5)
    assert (special.props["visibility_timeout"], special.props["delay_seconds"]) == (90, 5)
    assert plain.tags["Tier"] == "standard" and plain.tags["Team"] == "shop"
    assert special.tags["Tier"] == "gold" and special.tags["Team"] == "shop"


def test_tags_merge_spec_then_resource_over_cost_tags():
    spec = spec_of("""
        tags: {Owner: platform, Project: overridden}
        sqs_queues:
          q:
            tags: {Owner: payments}
        """)
    tags = spec.node("sqs_queues.q").tags
    assert tags == {"Project": "overridden", "Environment": "dev", "ManagedBy": "provisioner", "Owner": "payments"}


# --- references ---

def test_typed_refs_become_arn_references():
    spec = spec_of("""
        kms_keys:
          data: {}
        sqs_queues:
          dlq: {retention_seconds: 1209600}
          orders:
            kms_key: data
            dead_letter: {queue: dlq}
        sns_topics:
          events:
            subscriptions: [{sqs_queue: orders}]
        """)
    orders = spec.node("sqs_queues.orders")
    assert orders.props["kms_key"] == Ref("kms_keys.data", "arn")
    assert orders.props["dead_letter"]["queue"] == Ref("sqs_queues.dlq", "arn")
    assert orders.deps == {"kms_keys.data", "sqs_queues.dlq"}
    topic = spec.node("sns_topics.events")
    assert topic.props["subscriptions"][0]["sqs_queue"] == Ref("sqs_queues.orders", "arn")
    assert topic.deps == {"sqs_queues.orders"}


def test_typed_ref_may_be_an_explicit_reference_of_the_same_kind():
    spec = spec_of("""
        kms_keys:
          data: {}
        sqs_queues:
          q: {kms_key: "${kms_keys.data.id}"}
        """)
    assert spec.node("sqs_queues.q").props["kms_key"] == Ref("kms_keys.data", "id")


def test_references_in_strings_become_refs_and_templates():
    spec = spec_of("""
        sqs_queues:
          q: {}
        sns_topics:
          t:
            subscriptions:
              - {protocol: sqs, endpoint: "${sqs_queues.q.arn}"}
              - {protocol: https, endpoint: "https://example.com/${sqs_queues.q.name}?a=$${b}"}
        """)
    subs = spec.node("sns_topics.t").props["subscriptions"]
    assert subs[0]["endpoint"] == Ref("sqs_queues.q", "arn")
    assert subs[1]["endpoint"] == Template(("https://example.com/", Ref("sqs_queues.q", "name"), "?a=${b}"))
    assert spec.node("sns_topics.t").deps == {"sqs_queues.q"}


# --- names and environments ---

def test_physical_names_default_and_template():
    spec = spec_of("""
        sqs_queues:
          orders: {}
          jobs: {fifo: true}
          custom: {name: "{project}-custom-{name}-{environment}"}
        kms_keys:
          data: {}
        """)
    assert spec.node("sqs_queues.orders").physical_name == "shop-dev-orders"
    assert spec.node("sqs_queues.jobs").physical_name == "shop-dev-jobs.fifo"
    assert spec.node("sqs_queues.custom").physical_name == "shop-custom-custom-dev"
    assert "name" not in spec.node("sqs_queues.custom").props


def test_environment_override_changes_physical_names():
    body = """
        sqs_queues:
          orders: {}
        dynamodb_tables:
          t: {partition_key: {name: id, type: S}}
        """
    spec = spec_of(body, environment="pr-1")
    assert spec.environment == "pr-1"
    assert spec.node("sqs_queues.orders").physical_name == "shop-pr-1-orders"
    assert spec.node("dynamodb_tables.t").physical_name == "shop-pr-1-t"
    assert spec.node("sqs_queues.orders").tags["Environment"] == "pr-1"
    assert spec.owner_tags(spec.node("sqs_queues.orders"))["provisioner:environment"] == "pr-1"
    assert spec_of(body).node("sqs_queues.orders").physical_name == "shop-dev-orders"


def test_environment_from_the_environment_variable(monkeypatch):
    monkeypatch.setenv("PROVISIONER_ENVIRONMENT", "ci-7")
    spec = spec_of("sqs_queues:\n  orders: {}\n")
    assert spec.node("sqs_queues.orders").physical_name == "shop-ci-7-orders"


@pytest.mark.parametrize("environment", ["PR-1", "pr_1", "-pr", "x" * 33])
def test_invalid_environment_override(environment):
    with pytest.raises(SpecError) as caught:
        spec_of("sqs_queues:\n  orders: {}\n", environment=environment)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.path == "environment"
    assert "lower-case letters, digits and hyphens" in diagnostic.message


def test_region_from_spec_or_default():
    assert spec_of("sqs_queues: {}\n").region == "us-east-1"
    assert spec_of("region: eu-west-1\nsqs_queues: {}\n").region == "eu-west-1"


# --- diagnostics ---

def test_all_schema_errors_are_reported_together():
    found = diagnostics_of("""
        sqs_queues:
          orders:
            retention_seconds: "ten"
          jobs:
            visibility_timout: 10
        dynamodb_tables:
          t:
            billing: on_demand
        """)
    assert [(d.line, d.path) for d in found] == [
        (6, "sqs_queues.orders.retention_seconds"),
        (8, "sqs_queues.jobs.visibility_timout"),
        (10, "dynamodb_tables.t"),
    ]
    assert "did you mean 'visibility_timeout'" in found[1].message
    assert "'partition_key' is a required property" in found[2].message


def test_all_reference_and_name_errors_are_reported_together():
    found = diagnostics_of("""
        sqs_queues:
          a:
            dead_letter: {queue: nope}
          b:
            name: "this name has spaces"
          c:
            kms_key: missing
        """)
    assert [d.path for d in found] == ["sqs_queues.a.dead_letter.queue", "sqs_queues.b.name", "sqs_queues.c.kms_key"]
    assert [d.line for d in found] == [6, 8, 10]


def test_integral_float_is_not_an_integer():
    [diagnostic] = diagnostics_of("sqs_queues:\n  q: {visibility_timeout: 30.0}\n")
    assert diagnostic.message == "30.0 is not of type 'integer'"
    [diagnostic] = diagnostics_of("sqs_queues:\n  q: {visibility_timeout: true}\n")
    assert diagnostic.message == "True is not of type 'integer'"


def test_invalid_logical_name_points_at_the_name():
    [diagnostic] = diagnostics_of("sqs_queues:\n  good: {}\n  bad.name: {}\n")
    assert (diagnostic.line, diagnostic.path) == (6, "sqs_queues.bad.name")
    assert diagnostic.message.startswith("invalid name 'bad.name'")


def test_known_property_with_an_invalid_value_is_not_called_unknown():
    found = diagnostics_of("sqs_queues:\n  q:\n    tags: {aws:team: x}\n")
    assert len(found) == 1
    assert "unknown property" not in found[0].message
    assert found[0].path == "sqs_queues.q.tags.aws:team"


def test_one_of_branch_errors_name_the_real_mistake():
    [diagnostic] = diagnostics_of("""
        dynamodb_tables:
          t:
            partition_key: {name: id, type: S}
            global_indexes:
              by-x:
                partition_key: {name: x, type: S}
                projection: {include: []}
        """)
    assert diagnostic.path == "dynamodb_tables.t.global_indexes.by-x.projection.include"
    assert "non-empty" in diagnostic.message
    [diagnostic] = diagnostics_of("sns_topics:\n  t:\n    subscriptions: [{email: a@b.co, sqs_queue: q}]\n")
    assert diagnostic.message == "expected exactly one of: sqs_queue; function; email; protocol + endpoint"


def test_subscription_protocol_needs_its_endpoint():
    # email matches its oneOf branch; without dependentRequired the protocol would be silently ignored
    [diagnostic] = diagnostics_of("sns_topics:\n  t:\n    subscriptions: [{email: a@b.co, protocol: sms}]\n")
    assert diagnostic.path == "sns_topics.t.subscriptions[0]"
    assert "'endpoint' is a dependency of 'protocol'" in diagnostic.message


def test_semantic_warning_does_not_fail():
    spec = spec_of("""
        sqs_queues:
          dlq: {retention_seconds: 60}
          orders: {dead_letter: {queue: dlq}}
        """)
    [warning] = spec.warnings
    assert warning.severity == "warning"
    assert warning.path == "sqs_queues.orders.dead_letter.queue"
    assert "longer retention" in warning.message
