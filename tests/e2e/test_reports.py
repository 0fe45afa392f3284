"""What apply and destroy report: each warning once, and which resources they changed."""
from __future__ import annotations

import json
import re

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


ROLE = """\
iam_roles:
  reader:
    services: [lambda.amazonaws.com]
    policies:
      read-jobs:
        Statement:
          - {Sid: ReadJobs, Effect: Allow, Action: sqs:ReceiveMessage, Resource: "${sqs_queues.jobs.arn}"}
"""


def _with_role(tmp_path):
    path = _spec(tmp_path)
    path.write_text(path.read_text() + ROLE)
    return path


def test_a_create_shows_the_settings_the_spec_gives_and_detail_every_field(cli, tmp_path):
    compact = cli("diff", _with_role(tmp_path))
    assert compact.code == 2, compact
    assert "+ sqs_queues.jobs  (reports-dev-jobs)\n      retention_seconds: 345600\n+ " in compact.out, compact
    assert "+ sqs_queues.archive  (reports-dev-archive)\n+ " in compact.out   # archive: {} gives nothing
    for noise in ("tags.", "delay_seconds", "visibility_timeout", "max_session_duration"):
        assert noise not in compact.out, compact
    assert "--detail shows every field" in compact.out

    detail = cli("diff", _with_role(tmp_path), "--detail")
    assert detail.code == 2, detail
    for field in ("tags.Project: reports", "tags.provisioner:resource: sqs_queues.jobs", "delay_seconds: 0",
                  "visibility_timeout: 30", "max_session_duration: 3600"):
        assert f"\n      {field}\n" in detail.out, detail
    assert "--detail shows" not in detail.out


def test_a_policy_prints_as_indented_json(cli, tmp_path):
    compact = cli("diff", _with_role(tmp_path)).out
    assert ('      policies: {\n        "read-jobs": {\n          "Statement": [\n            {\n'
            '              "Sid": "ReadJobs",\n') in compact, compact
    detail = cli("diff", _with_role(tmp_path), "--detail").out
    # the trust policy the tool writes, its statements as a list again
    assert '      trust_policy: {\n        "Version": "2012-10-17",\n        "Statement": [\n' in detail, detail
    block = detail.split("      trust_policy: ", 1)[1].split("\n      }\n", 1)[0] + "}"
    assert json.loads(block)["Statement"] == [{"Effect": "Allow", "Action": ["sts:AssumeRole"],
                                               "Principal": {"Service": ["lambda.amazonaws.com"]}}]
    assert max(len(line) for line in detail.splitlines()) < 160, detail


def test_an_update_keeps_the_field_level_diff(cli, tmp_path):
    assert cli("apply", _spec(tmp_path), "--yes").code == 0
    for verb in ("diff", "apply"):
        changed = cli(verb, _spec(tmp_path, retention=86400), *(["--yes"] if verb == "apply" else []))
        assert "~ sqs_queues.jobs  (reports-dev-jobs)\n    ~ sqs_queues.jobs.retention_seconds: 345600 -> 86400\n" \
            in changed.out, changed


def test_a_summary_gives_the_wall_time_with_the_plan_and_destroy_detail_the_arns(cli, tmp_path):
    applied = cli("apply", _spec(tmp_path), "--yes")
    total, plan = map(float, re.search(r"apply ok: 3 created in ([\d.]+)s \(plan ([\d.]+)s\)", applied.out).groups())
    assert 0 < plan <= total, applied
    dry = cli("destroy", _spec(tmp_path), "--dry-run", "--detail")
    assert "- sqs_queues.jobs  (reports-dev-jobs)  # owned by this environment\n" \
           "      arn: arn:aws:sqs:us-east-1:123456789012:reports-dev-jobs\n" in dry.out, dry
    report = cli("destroy", _spec(tmp_path), "--yes", "-o", "json").json()
    assert 0 < report["plan_seconds"] <= report["seconds"], report


def test_an_emulator_warning_is_printed_once_per_run_not_after_every_step(cli, tmp_path):
    table = ("dynamodb_tables:\n  events:\n    partition_key: {name: id, type: S}\n"
             "    contributor_insights: true\n")
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text() + table)
    insights = "dynamodb_tables.events: contributor_insights: not emulated by this endpoint"
    rotation = "kms_keys.data: rotation_period_days is not returned by this endpoint"
    created = cli("apply", spec, "--yes")   # the table's create meets the missing API
    assert created.code == 0, created
    assert (created.out + created.err).count(insights) == 1, created

    spec.write_text(spec.read_text().replace("retention_seconds: 345600", "retention_seconds: 86400"))
    for run in (cli("apply", spec, "--yes"),   # plans twice (the second under the lock), applies, summarises
                cli("diff", spec)):
        assert run.code in (0, 2), run
        for warning in (insights, rotation):
            assert (run.out + run.err).count(warning) == 1, run
