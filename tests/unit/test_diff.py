"""provisioner.engine.diff: the one generic field-level diff every reconciler relies on."""
from __future__ import annotations

from provisioner.engine.diff import ABSENT, FieldDiff, diff
from provisioner.services.base import NOT_RETURNED
from provisioner.spec.refs import UNKNOWN


def as_tuples(diffs):
    return [(d.path, d.before, d.after) for d in diffs]


def test_equal_dicts_have_no_diff():
    value = {"a": 1, "b": {"c": [1, 2], "d": {"e": None}}, "tags": {"x": "1"}}
    assert diff(value, {"a": 1, "b": {"c": [1, 2], "d": {"e": None}}, "tags": {"x": "1"}}) == []


def test_scalar_change_is_before_and_after():
    [change] = diff({"visibility_timeout": 60, "fifo": False}, {"visibility_timeout": 30, "fifo": False})
    assert change == FieldDiff("visibility_timeout", 30, 60)
    assert change.field == "visibility_timeout"


def test_nested_dict_paths():
    desired = {"dead_letter": {"target_arn": "arn:dlq", "max_receive_count": 5},
               "indexes": {"by-x": {"projection": {"type": "ALL"}}}}
    actual = {"dead_letter": {"target_arn": "arn:dlq", "max_receive_count": 3},
              "indexes": {"by-x": {"projection": {"type": "KEYS_ONLY"}}}}
    diffs = diff(desired, actual)
    assert as_tuples(diffs) == [
        ("dead_letter.max_receive_count", 3, 5),
        ("indexes.by-x.projection.type", "KEYS_ONLY", "ALL"),
    ]
    assert [d.field for d in diffs] == ["dead_letter", "indexes"]


def test_tags_added_changed_and_removed():
    desired = {"tags": {"keep": "1", "change": "new", "add": "yes"}}
    actual = {"tags": {"keep": "1", "change": "old", "remove": "gone"}}
    assert sorted(as_tuples(diff(desired, actual)), key=str) == sorted([
        ("tags.change", "old", "new"),
        ("tags.add", ABSENT, "yes"),
        ("tags.remove", "gone", ABSENT),
    ], key=str)


def test_top_level_keys_only_in_actual_are_not_managed():
    assert diff({"a": 1}, {"a": 1, "arn": "arn:x", "created": "today"}) == []


def test_top_level_key_missing_in_actual_is_a_diff():
    assert as_tuples(diff({"a": 1, "b": 2}, {"a": 1})) == [("b", ABSENT, 2)]


def test_underscore_fields_are_carried_not_compared():
    assert diff({"_policy_document": {"x": 1}, "a": 1}, {"_policy_document": {"y": 2}, "a": 1}) == []


def test_dict_against_none_is_one_diff():
    desired = {"dead_letter": {"target_arn": "arn:dlq", "max_receive_count": 3}}
    assert as_tuples(diff(desired, {"dead_letter": None})) == [("dead_letter", None, desired["dead_letter"])]
    assert as_tuples(diff({"dead_letter": None}, desired)) == [("dead_letter", desired["dead_letter"], None)]


def test_lists_are_compared_as_values():
    assert as_tuples(diff({"services": ["a", "b"]}, {"services": ["b", "a"]})) == [
        ("services", ["b", "a"], ["a", "b"])]


def test_ignore_changes_skips_fields_and_subtrees():
    desired = {"visibility_timeout": 60, "tags": {"a": "1", "b": "2"}, "tagsuffix": 1}
    actual = {"visibility_timeout": 30, "tags": {"a": "0", "b": "0"}, "tagsuffix": 2}
    assert [d.path for d in diff(desired, actual)] == ["visibility_timeout", "tags.a", "tags.b", "tagsuffix"]
    assert [d.path for d in diff(desired, actual, ignore=("tags",))] == ["visibility_timeout", "tagsuffix"]
    assert [d.path for d in diff(desired, actual, ignore=("tags.a", "visibility_timeout"))] == [
        "tags.b", "tagsuffix"]


def test_not_returned_is_never_compared():
    desired = {"rotation_period_days": 365, "nested": {"x": 1, "y": 2}}
    actual = {"rotation_period_days": NOT_RETURNED, "nested": {"x": NOT_RETURNED, "y": 3}}
    assert as_tuples(diff(desired, actual)) == [("nested.y", 3, 2)]


def test_unknown_is_shown_as_a_change():
    desired = {"kms_key": UNKNOWN, "targets": ["arn:a", UNKNOWN], "same": 1}
    actual = {"kms_key": "arn:old-key", "targets": ["arn:a", "arn:b"], "same": 1}
    assert as_tuples(diff(desired, actual)) == [
        ("kms_key", "arn:old-key", UNKNOWN),
        ("targets", ["arn:a", "arn:b"], UNKNOWN),
    ]
    # even when the current value happens to be absent
    assert as_tuples(diff({"kms_key": UNKNOWN}, {})) == [("kms_key", ABSENT, UNKNOWN)]
