"""provisioner.spec.loader: lines of every key and item, and what plain PyYAML would let through."""
from __future__ import annotations

import textwrap

import pytest

from provisioner.errors import SpecError
from provisioner.spec import loader
from provisioner.spec.loader import format_path, load_document


def load(text: str):
    return load_document("spec.yaml", textwrap.dedent(text).lstrip("\n"))


def errors(text, file="spec.yaml"):
    with pytest.raises(SpecError) as caught:
        load_document(file, text if isinstance(text, bytes) else textwrap.dedent(text).lstrip("\n"))
    return caught.value.diagnostics


SPEC = """\
version: 1
project: shop
environment: dev
sqs_queues:
  orders:
    visibility_timeout: 30

    dead_letter:
      queue: dlq
sns_topics:
  events:
    subscriptions:
      - sqs_queue: orders
        raw_message_delivery: true
      - email: ops@example.com
"""


def test_lines_of_nested_keys_and_list_items():
    doc = load(SPEC)
    assert doc.lines[("version",)] == 1
    assert doc.lines[("sqs_queues",)] == 4
    assert doc.lines[("sqs_queues", "orders")] == 5
    assert doc.lines[("sqs_queues", "orders", "visibility_timeout")] == 6
    assert doc.lines[("sqs_queues", "orders", "dead_letter", "queue")] == 9
    assert doc.lines[("sns_topics", "events", "subscriptions", 0)] == 13
    assert doc.lines[("sns_topics", "events", "subscriptions", 0, "raw_message_delivery")] == 14
    assert doc.lines[("sns_topics", "events", "subscriptions", 1)] == 15
    assert doc.lines[("sns_topics", "events", "subscriptions", 1, "email")] == 15


def test_data_is_plain_python():
    doc = load(SPEC)
    assert doc.data["sqs_queues"]["orders"] == {"visibility_timeout": 30, "dead_letter": {"queue": "dlq"}}
    assert doc.data["sns_topics"]["events"]["subscriptions"][1] == {"email": "ops@example.com"}


def test_line_of_falls_back_to_nearest_written_ancestor():
    doc = load(SPEC)
    # retention_seconds is not written: a default-filled field is located at its resource
    assert doc.line_of(("sqs_queues", "orders", "retention_seconds")) == 5
    assert doc.line_of(("sqs_queues", "orders", "dead_letter", "max_receive_count")) == 8
    assert doc.line_of(("kms_keys", "data")) == 1   # the document itself
    diagnostic = doc.diagnostic(("sns_topics", "events", "subscriptions", 1, "email"), "bad")
    assert (diagnostic.line, diagnostic.path) == (15, "sns_topics.events.subscriptions[1].email")


def test_flow_style_items_keep_their_own_line():
    doc = load("""
        a:
          b: [1,
              {c: 2}]
        """)
    assert doc.lines[("a", "b", 0)] == 2
    assert doc.lines[("a", "b", 1)] == 3
    assert doc.lines[("a", "b", 1, "c")] == 3


def test_format_path():
    assert format_path(()) == ""
    assert format_path(("sqs_queues", "orders", "dead_letter", "queue")) == "sqs_queues.orders.dead_letter.queue"
    assert format_path(("sns_topics", "t", "subscriptions", 2, "email")) == "sns_topics.t.subscriptions[2].email"


def test_duplicate_key_mentions_both_lines():
    [diagnostic] = errors("""
        version: 1
        sqs_queues:
          orders: {}
          dlq: {}
          orders:
            visibility_timeout: 60
        """)
    assert diagnostic.line == 5
    assert diagnostic.path == "sqs_queues.orders"
    assert "duplicate key 'orders'" in diagnostic.message
    assert "first defined on line 3" in diagnostic.message


def test_every_duplicate_key_is_reported():
    found = errors("""
        version: 1
        project: a
        version: 1
        sqs_queues:
          q:
            fifo: true
            fifo: false
        """)
    assert [(d.line, d.path) for d in found] == [(3, "version"), (7, "sqs_queues.q.fifo")]


def test_merge_keys_are_rejected():
    [diagnostic] = errors("""
        base: &base {visibility_timeout: 60}
        sqs_queues:
          orders:
            <<: *base
        """)
    assert diagnostic.line == 4
    assert "merge keys" in diagnostic.message


def test_plain_aliases_within_the_limits_are_expanded():
    doc = load("""
        shared: &tags {Team: shop}
        other: *tags
        """)
    assert doc.data == {"shared": {"Team": "shop"}, "other": {"Team": "shop"}}


def test_alias_bomb_is_rejected_at_the_expanding_key(monkeypatch):
    monkeypatch.setattr(loader, "MAX_NODES", 1000)
    levels = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for previous, name in zip("abcd", "bcde", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    [diagnostic] = errors("\n".join(levels) + "\n")
    assert "more than 1000 nodes" in diagnostic.message
    assert diagnostic.line == 3   # c: expands to 1111 nodes, the first to cross 1000


def test_depth_limit():
    text = "a: " + "[" * (loader.MAX_DEPTH + 5) + "]" * (loader.MAX_DEPTH + 5) + "\n"
    [diagnostic] = errors(text)
    assert f"nested deeper than {loader.MAX_DEPTH} levels" in diagnostic.message
    assert diagnostic.line == 1
    # at the limit it loads
    ok = "a: " + "[" * (loader.MAX_DEPTH - 1) + "]" * (loader.MAX_DEPTH - 1) + "\n"
    assert load_document("spec.yaml", ok).data["a"]


def test_nesting_beyond_the_parser_stack_is_an_error_with_a_line():
    text = "version: 1\nx: " + "[" * 20000 + "]" * 20000 + "\n"
    [diagnostic] = errors(text)
    assert diagnostic.line == 2
    assert "nested deeper" in diagnostic.message


def test_invalid_yaml_has_line_and_context():
    [diagnostic] = errors("""
        version: 1
        queues: {a: 1
        b: 2
        """)
    assert diagnostic.line == 3
    assert diagnostic.path == ""
    assert diagnostic.message.startswith("invalid YAML:")
    assert "started on line 2" in diagnostic.message
    assert "\n" not in diagnostic.message


def test_unconstructible_tag_has_a_line():
    [diagnostic] = errors("version: 1\nproject: !!python/name:os.system\n")
    assert diagnostic.line == 2
    assert "could not determine a constructor" in diagnostic.message
    assert "\n" not in diagnostic.message


@pytest.mark.parametrize("value", ["!!python/object/apply:os.system ['true']", "!GetAtt [a, arn]",
                                   "!!omap [{a: 1}]", "!Ref {a: 1}"])
def test_tags_on_collections_are_not_silently_dropped(value):
    [diagnostic] = errors(f"version: 1\nproject: {value}\n")
    assert diagnostic.line == 2
    assert "unsupported YAML tag" in diagnostic.message


def test_not_utf8_reports_the_line_of_the_bad_byte():
    [diagnostic] = errors(b"version: 1\nproject: shop\ndescription: caf\xe9\n")
    assert diagnostic.line == 3
    assert "not valid UTF-8" in diagnostic.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_document(text):
    [diagnostic] = errors(text)
    assert (diagnostic.line, diagnostic.message) == (1, "spec is empty")


def test_several_documents_are_rejected():
    [diagnostic] = errors("version: 1\n---\nversion: 2\n")
    assert "invalid YAML" in diagnostic.message
    assert diagnostic.line == 2


def test_keys_must_be_scalars_and_values_not_binary():
    [diagnostic] = errors("version: 1\n? [a, b]\n: 1\n")
    assert (diagnostic.line, diagnostic.message) == (2, "mapping keys must be plain scalars")
    [diagnostic] = errors("version: 1\ndata: !!binary aGVsbG8=\n")
    assert (diagnostic.line, diagnostic.message) == (2, "binary values are not supported")
    [diagnostic] = errors("version: 1\n~: 1\n")
    assert diagnostic.message == "mapping keys must be strings"


def test_scalars_keys_become_strings_and_timestamps_stay_text():
    doc = load("""
        1: one
        true: yes
        created: 2024-01-02
        """)
    assert doc.data == {"1": "one", "True": True, "created": "2024-01-02"}


def test_too_large_file_is_rejected(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (loader.MAX_SPEC_BYTES + 1))
    [diagnostic] = errors_from_file(path)
    assert "larger than" in diagnostic.message


def test_missing_file(tmp_path):
    [diagnostic] = errors_from_file(tmp_path / "nope.yaml")
    assert diagnostic.message.startswith("cannot read spec")
    assert diagnostic.file == str(tmp_path / "nope.yaml")


def test_reads_from_the_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("version: 1\nproject: shop\n")
    doc = load_document(str(path))
    assert doc.data == {"version": 1, "project": "shop"}
    assert doc.file == str(path)
    assert doc.lines[("project",)] == 2


def errors_from_file(path):
    with pytest.raises(SpecError) as caught:
        load_document(str(path))
    return caught.value.diagnostics


ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
YAML_FILES = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("tests/fixtures/**/*.yaml")])


def _outcome(path):
    try:
        document = load_document(str(path))
        return document.data, document.lines
    except SpecError as exc:
        return [str(d) for d in exc.diagnostics]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_libyaml_and_pure_python_loading_agree(path, monkeypatch):
    fast = _outcome(path)
    monkeypatch.delattr(loader.yaml, "CSafeLoader")
    assert _outcome(path) == fast


def test_libyaml_is_used_when_present_and_deep_nesting_goes_to_the_checked_path():
    import yaml
    assert hasattr(yaml, "CSafeLoader")
    assert loader._compose_fast("a: {b: [1, 2]}\n") is not None
    assert loader._compose_fast("a: " + "[" * (loader.MAX_DEPTH + 1) + "]" * (loader.MAX_DEPTH + 1) + "\n") is None
    assert loader._compose_fast("a: [1\n") is None   # invalid: PyYAML words the error
    text = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    assert "nested deeper than" in str(errors(text)[0])
