"""End to end: the installed CLI as a subprocess against a moto server on a free loopback port."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import boto3
import pytest

from provisioner.local import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
CLI = shutil.which("provisioner", path=str(Path(sys.executable).parent)) or shutil.which("provisioner")


@pytest.fixture(scope="session")
def moto_server():
    process = start_server(port=free_port())
    yield f"http://127.0.0.1:{process.port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def endpoint(moto_server):
    """A clean emulator for each test: POST /moto-api/reset wipes all state in milliseconds."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).read()
    return moto_server


class Result:
    def __init__(self, completed: subprocess.CompletedProcess):
        self.code = completed.returncode
        self.out = completed.stdout
        self.err = completed.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@pytest.fixture
def cli(endpoint, tmp_path):
    """cli("apply", spec, "--yes", env={...}) runs the installed provisioner against the emulator."""
    assert CLI, "the provisioner console script is not installed"

    def run(*args, env: dict | None = None, endpoint_flag: bool = True, stdin: str | None = None) -> Result:
        full_env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1", "PROVISIONER_STATE_DIR": str(tmp_path / "state"),
                    **(env or {})}
        argv = [CLI, *map(str, args)]
        if endpoint_flag:
            argv += ["--endpoint-url", endpoint, "--no-color"]
        completed = subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=ROOT,
                                   input=stdin, timeout=300)
        return Result(completed)

    return run


# a sitecustomize module for killable(): it wraps botocore's calls, so the tool's code is not changed or mocked
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
    service = self.meta.service_model.service_name
    result = _make_api_call(self, operation_name, api_params)
    if os.environ.get("CALL_LOG"):
        with _lock, open(os.environ["CALL_LOG"], "a") as log:
            log.write(f"{service} {operation_name} {api_params.get('Name', api_params.get('Path', ''))}\\n")
    if operation_name.startswith(READS) or service == "sts":
        return result
    if service == "ssm" and api_params.get("Name", "").endswith("/lock"):   # the lock is not the apply's work
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
    """killable("apply", spec, kill_after=N): the installed CLI, killed with SIGKILL right after its Nth
    write call (or the first call of that name); call_log= records every call it makes."""
    (tmp_path / "killer").mkdir()
    (tmp_path / "killer" / "sitecustomize.py").write_text(KILLER)

    def run(*args, kill_after=None, report=None, call_log=None):
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "PROVISIONER_STATE_DIR": str(tmp_path / "state"),
               "PYTHONPATH": str(tmp_path / "killer")}
        for name, value in (("KILL_AFTER", kill_after), ("KILL_REPORT", report), ("CALL_LOG", call_log)):
            if value is not None:
                env[name] = str(value)
        return subprocess.run([CLI, *map(str, args), "--endpoint-url", endpoint, "--no-color"],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    return run


@pytest.fixture
def boto(endpoint):
    """Plain boto3 clients on the emulator, for out-of-band changes and independent checks."""
    def client(service: str):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    return client


def apply_converges(cli, spec):
    """How every environment's run starts: validate without AWS, apply from empty, diff in sync, and a
    second apply with no write call. Returns the first apply's result."""
    assert cli("validate", spec, endpoint_flag=False).code == 0
    applied = cli("apply", spec, "--yes")
    assert applied.code == 0, applied
    assert cli("diff", spec).code == 0
    second = cli("apply", spec, "--yes", "--output", "json")
    assert second.code == 0 and second.json()["api_calls"]["writes"] == 0, second
    return applied


def rest_api_id(boto, name: str) -> str:
    return next(a["id"] for a in boto("apigateway").get_rest_apis()["items"] if a["name"] == name)


def owned_arns(boto, project: str, environment: str) -> list[str]:
    """Resources still carrying the ownership tags, except KMS keys already pending deletion."""
    tagging = boto("resourcegroupstaggingapi")
    arns = []
    for page in tagging.get_paginator("get_resources").paginate(TagFilters=[
            {"Key": "provisioner:project", "Values": [project]},
            {"Key": "provisioner:environment", "Values": [environment]}]):
        for item in page["ResourceTagMappingList"]:
            arn = item["ResourceARN"]
            if ":kms:" in arn:
                state = boto("kms").describe_key(KeyId=arn)["KeyMetadata"]["KeyState"]
                if state == "PendingDeletion":
                    continue
            if ":secretsmanager:" in arn and "DeletedDate" in boto("secretsmanager").describe_secret(SecretId=arn):
                continue   # scheduled for deletion within its recovery window
            arns.append(arn)
    iam = boto("iam")   # the Tagging API does not cover IAM
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
            if tags.get("provisioner:project") == project and tags.get("provisioner:environment") == environment:
                if role["Arn"] not in arns:
                    arns.append(role["Arn"])
    events = boto("events")   # nor EventBridge rules on the emulator
    for page in events.get_paginator("list_rules").paginate():
        for rule in page["Rules"]:
            tags = {t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]}
            if tags.get("provisioner:project") == project and tags.get("provisioner:environment") == environment:
                arns.append(rule["Arn"])
    for api in boto("apigateway").get_rest_apis()["items"]:   # nor REST APIs on the emulator
        tags = api.get("tags", {})
        if tags.get("provisioner:project") == project and tags.get("provisioner:environment") == environment:
            arns.append(f"arn:aws:apigateway:us-east-1::/restapis/{api['id']}")
    return arns


def leftovers(boto, project: str = "market-data") -> list[str]:
    """Anything with the environment's names, tagged or not (keys and secrets pending deletion excepted), any
    table, and any parameter or table of the tool's own bookkeeping (the lock, intents), read with plain boto3."""
    prefix = f"{project}-dev"
    found = [b["Name"] for b in boto("s3").list_buckets()["Buckets"] if b["Name"].startswith(prefix)]
    found += [u for u in boto("sqs").list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])]
    found += boto("dynamodb").list_tables()["TableNames"]
    found += [p["Name"] for p in boto("ssm").get_parameters_by_path(Path="/", Recursive=True)["Parameters"]]
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
