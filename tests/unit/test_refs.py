"""provisioner.spec.refs: ${kind.name.attr} parsing, escapes, finding and late resolution."""
from __future__ import annotations

import pytest

from provisioner.spec.refs import (
    UNKNOWN,
    Ref,
    RefSyntaxError,
    Template,
    Unknown,
    contains_unknown,
    find_refs,
    parse_string,
    resolve,
)

KEY = Ref("kms_keys.data", "arn")
QUEUE_NAME = Ref("sqs_queues.orders", "name")


@pytest.mark.parametrize("text", ["plain", "", "cost $5", "{project}-{environment}", "a}b{c", "$ {x}"])
def test_text_without_references_is_returned_unchanged(text):
    assert parse_string(text) is text


def test_whole_string_is_a_ref():
    assert parse_string("${kms_keys.data.arn}") == KEY
    assert parse_string("${ kms_keys.data.arn }") == KEY
    ref = parse_string("${sqs_queues.Orders_2-x.url}")
    assert ref == Ref("sqs_queues.Orders_2-x", "url")
    assert (ref.kind, str(ref)) == ("sqs_queues", "${sqs_queues.Orders_2-x.url}")


def test_reference_inside_text_is_a_template():
    value = parse_string("arn:aws:sqs:::${sqs_queues.orders.name}/*")
    assert isinstance(value, Template)
    assert value.parts == ("arn:aws:sqs:::", QUEUE_NAME, "/*")
    assert value.refs() == [QUEUE_NAME]
    assert str(value) == "arn:aws:sqs:::${sqs_queues.orders.name}/*"


def test_two_adjacent_references_are_a_template():
    value = parse_string("${sqs_queues.orders.name}${kms_keys.data.arn}")
    assert value == Template((QUEUE_NAME, KEY))


def test_escaped_reference_is_plain_text():
    assert parse_string("$${kms_keys.data.arn}") == "${kms_keys.data.arn}"
    assert parse_string("a $${b} c") == "a ${b} c"
    assert isinstance(parse_string("$${b}"), str)


def test_escape_next_to_a_reference():
    value = parse_string("$${literal}-${kms_keys.data.arn}")
    assert value == Template(("${literal}-", KEY))


@pytest.mark.parametrize("text", [
    "${kms_keys.data}", "${kms_keys}", "${}", "${Kms_Keys.data.arn}", "${kms_keys.data.arn.extra}",
    "${kms_keys.-data.arn}", "x-${sqs_queues.orders}-y",
])
def test_bad_reference_syntax(text):
    with pytest.raises(RefSyntaxError, match=r"bad reference .*expected \$\{kind.name.attribute\}"):
        parse_string(text)


@pytest.mark.parametrize("text", ["${kms_keys.data.arn", "${kms_keys.data.arn}${x", "a ${b"])
def test_unterminated_reference(text):
    with pytest.raises(RefSyntaxError, match="unterminated reference"):
        parse_string(text)


def test_find_refs_walks_nested_values_with_paths():
    value = {
        "kms_key": KEY,
        "policy": {"Statement": [{"Resource": Template(("x", QUEUE_NAME))}, {"Resource": "*"}]},
        "plain": "text",
        "number": 3,
    }
    assert list(find_refs(value)) == [
        (("kms_key",), KEY),
        (("policy", "Statement", 0, "Resource"), QUEUE_NAME),
    ]
    assert list(find_refs("${kms_keys.data.arn}")) == []   # strings are not parsed again


def test_resolve_replaces_refs_and_renders_templates():
    outputs = {("kms_keys.data", "arn"): "arn:key", ("sqs_queues.orders", "name"): "shop-dev-orders"}

    def lookup(ref):
        return outputs[(ref.address, ref.attr)]

    value = {"k": KEY, "list": [Template(("q/", QUEUE_NAME)), 1], "keep": "as is"}
    assert resolve(value, lookup) == {"k": "arn:key", "list": ["q/shop-dev-orders", 1], "keep": "as is"}
    assert value["k"] is KEY   # a new value; the input is untouched


def test_unknown_makes_a_template_unknown():
    value = {"k": KEY, "t": Template(("a-", QUEUE_NAME)), "s": "x"}
    resolved = resolve(value, lambda ref: UNKNOWN if ref.address == "sqs_queues.orders" else "arn:key")
    assert resolved == {"k": "arn:key", "t": UNKNOWN, "s": "x"}
    assert contains_unknown(resolved)
    assert contains_unknown([1, {"a": (UNKNOWN,)}])
    assert not contains_unknown({"k": "arn:key", "l": [1, "x"]})


def test_unknown_is_a_singleton():
    assert Unknown() is UNKNOWN
    assert str(UNKNOWN) == "(known after apply)"
