"""What apply and destroy report: each warning once, and which resources they changed."""
from __future__ import annotations

SPEC = """\
version: 1
project: reports
environment: dev
kms_keys:
  data: {rotation_period_days: 180}
sqs_queues:
  jobs: {retention_seconds: %d}
  %s
"""


def _spec(tmp_path, retention=345600, extra="archive: {}"):
    path = tmp_path / "reports.yaml"
    path.write_text(SPEC % (retention, extra))
    return path


def test_a_warning_of_the_plan_is_not_repeated_after_the_summary(cli, tmp_path):
    spec = _spec(tmp_path)
    assert cli("apply", spec, "--yes").code == 0
    again = cli("apply", spec, "--yes")
    assert again.code == 0, again
    warning = "kms_keys.data: rotation_period_days is not returned by this endpoint"
    assert (again.out + again.err).count(warning) == 1, again


def test_apply_json_lists_the_resources_it_created_updated_and_deleted(cli, tmp_path):
    created = cli("apply", _spec(tmp_path), "--yes", "-o", "json")
    assert created.code == 0, created
    report = created.json()
    assert report["created"] == 3
    assert report["resources"] == {"created": ["kms_keys.data", "sqs_queues.archive", "sqs_queues.jobs"],
                                   "updated": [], "replaced": [], "deleted": []}

    changed = cli("apply", _spec(tmp_path, retention=86400, extra=""), "--yes", "-o", "json")
    assert changed.code == 0, changed
    assert changed.json()["resources"] == {"created": [], "updated": ["sqs_queues.jobs"], "replaced": [],
                                           "deleted": ["sqs_queues.archive"]}

    destroyed = cli("destroy", _spec(tmp_path), "--yes", "-o", "json")
    assert destroyed.code == 0, destroyed
    assert sorted(destroyed.json()["resources"]["deleted"]) == ["kms_keys.data", "sqs_queues.jobs"]
