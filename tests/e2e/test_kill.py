"""SIGKILL at any point of an apply: a re-run converges (diff exits 0) and destroy finds and removes
everything that was created, including a bucket created but not yet tagged when the process died.

The CLI runs with a sitecustomize module on PYTHONPATH that kills the process with SIGKILL right after
a chosen AWS write call returns: the tool's code is not changed or mocked.
"""
from __future__ import annotations

import os
import subprocess
import urllib.request

import botocore.exceptions
import pytest

from tests.e2e.conftest import CLI, ROOT, owned_arns

SPEC = ROOT / "specs" / "market-data.yaml"
PREFIX = "market-data-dev"
# between them every kind but lambda layers: market-data has the dashboard, microservices the secret,
# event rule, VPC and CloudFront distribution
ENVIRONMENTS = {"market-data": ROOT / "specs" / "market-data.yaml",
                "microservices": ROOT / "specs" / "microservices.yaml"}
KILLER = '''
import atexit
import os
import threading

import botocore.client

_make_api_call = botocore.client.BaseClient._make_api_call
_writes = [0]
_lock = threading.Lock()
READS = ("Get", "List", "Describe", "Head", "Scan", "Query")


def _killing_make_api_call(self, operation_name, api_params):
    result = _make_api_call(self, operation_name, api_params)
    if operation_name.startswith(READS) or self.meta.service_model.service_name == "sts":
        return result
    if api_params.get("TableName") == "provisioner-locks":   # the lock is not the apply's work
        return result
    with _lock:
        _writes[0] += 1
        count = _writes[0]
    if os.environ.get("KILL_AFTER") in (operation_name, str(count)):
        os.kill(os.getpid(), 9)
    return result


botocore.client.BaseClient._make_api_call = _killing_make_api_call
if os.environ.get("KILL_REPORT"):
    atexit.register(lambda: open(os.environ["KILL_REPORT"], "w").write(str(_writes[0])))
'''


@pytest.fixture
def killable(tmp_path, endpoint):
    (tmp_path / "killer").mkdir()
    (tmp_path / "killer" / "sitecustomize.py").write_text(KILLER)

    def run(*args, kill_after=None, report=None):
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "PROVISIONER_STATE_DIR": str(tmp_path / "state"),
               "PYTHONPATH": str(tmp_path / "killer")}
        if kill_after is not None:
            env["KILL_AFTER"] = str(kill_after)
        if report is not None:
            env["KILL_REPORT"] = str(report)
        return subprocess.run([CLI, *map(str, args), "--endpoint-url", endpoint, "--no-color"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    return run


def _leftovers(boto, project: str = "market-data") -> list[str]:
    """Anything with the environment's names, tagged or not (keys and secrets pending deletion excepted)."""
    prefix = f"{project}-dev"
    found = [b["Name"] for b in boto("s3").list_buckets()["Buckets"] if b["Name"].startswith(prefix)]
    found += [u for u in boto("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])]
    found += [t for t in boto("dynamodb").list_tables()["TableNames"] if t.startswith(prefix)]
    found += [f["FunctionName"] for f in boto("lambda").list_functions()["Functions"]]
    found += [r["RoleName"] for r in boto("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    found += [g["logGroupName"] for g in boto("logs").describe_log_groups()["logGroups"] if prefix in g["logGroupName"]]
    found += [t["TopicArn"] for t in boto("sns").list_topics()["Topics"] if prefix in t["TopicArn"]]
    found += [a["name"] for a in boto("apigateway").get_rest_apis()["items"]]
    found += [m["name"] for m in boto("stepfunctions").list_state_machines()["stateMachines"]]
    found += [a["AlarmName"] for a in boto("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]]
    found += [d["DashboardName"] for d in boto("cloudwatch").list_dashboards(DashboardNamePrefix=prefix)[
        "DashboardEntries"]]
    found += [s["Name"] for s in boto("secretsmanager").list_secrets()["SecretList"]
              if s["Name"].startswith(prefix) and "DeletedDate" not in s]
    found += [r["Name"] for r in boto("events").list_rules(NamePrefix=prefix)["Rules"]]
    found += [v["VpcId"] for v in boto("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{prefix}-*"]}])[
        "Vpcs"]]
    found += [d["Id"] for d in boto("cloudfront").list_distributions()["DistributionList"].get("Items", [])]
    found += [o["Name"] for o in boto("cloudfront").list_origin_access_controls()[
        "OriginAccessControlList"].get("Items", []) if o["Name"].startswith(prefix)]
    return found


def _recovers(killable, boto, spec=SPEC, project="market-data"):
    """After a kill: unlock, apply converges, diff is clean, destroy leaves nothing of ours."""
    assert killable("unlock", spec).returncode == 0
    applied = killable("apply", spec, "--yes")
    assert applied.returncode == 0, applied.stderr[-3000:]
    diff = killable("diff", spec)
    assert diff.returncode == 0, diff.stdout[-3000:]
    destroyed = killable("destroy", spec, "--yes")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    assert owned_arns(boto, project, "dev") == []
    assert _leftovers(boto, project) == []


def test_bucket_created_but_not_tagged_is_still_ours(killable, boto):
    killed = killable("apply", SPEC, "--yes", kill_after="CreateBucket")
    assert killed.returncode == -9, killed.stderr[-2000:]
    bucket = f"{PREFIX}-data-123456789012"
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchTagSet"):   # created, never tagged
        boto("s3").get_bucket_tagging(Bucket=bucket)
    _recovers(killable, boto)


def test_an_untagged_bucket_nobody_announced_is_never_adopted(killable, boto):
    boto("s3").create_bucket(Bucket=f"{PREFIX}-data-123456789012")
    refused = killable("apply", SPEC, "--yes")
    assert refused.returncode == 1 and "refusing to adopt" in refused.stderr, refused.stderr[-2000:]


@pytest.mark.parametrize("project", sorted(ENVIRONMENTS))
def test_kill_after_any_write_call_recovers(project, killable, boto, endpoint, tmp_path):
    spec = ENVIRONMENTS[project]
    report = tmp_path / "writes"
    full = killable("apply", spec, "--yes", kill_after="never", report=report)
    assert full.returncode == 0, full.stderr[-2000:]
    writes = int(report.read_text())   # the write calls the killer sees in a full apply
    assert writes > 50
    assert killable("destroy", spec, "--yes").returncode == 0
    cut_points = sorted({1, writes} | {round(1 + i * (writes - 1) / 19) for i in range(20)})
    assert len(cut_points) >= 20
    for cut in cut_points:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()
        killed = killable("apply", spec, "--yes", kill_after=cut)
        assert killed.returncode == -9, (cut, killed.stderr[-2000:])
        _recovers(killable, boto, spec, project)
