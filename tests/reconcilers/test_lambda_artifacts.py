"""Lambda code through S3 on moto (in-process): the package goes once per content to
lambda/FUNCTION/SHA256.zip in an artifacts bucket (the spec's, or the environment's own), the function is
created and updated from S3Bucket/S3Key, and what is deployed is checked with plain boto3."""
from __future__ import annotations

import base64
import hashlib
import os

import pytest

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.services import lambda_packaging as packaging
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import pending_diffs, run_quartet, write_code

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
OWN_BUCKET_SPEC = """
version: 1
project: shop
environment: dev
s3_buckets:
  packages: {}
lambda_functions:
  worker:
    code: {path: code, artifacts_bucket: packages}
    handler: app.handler
"""
GENERATED_SPEC = """
version: 1
project: shop
environment: dev
defaults:
  lambda_functions:
    code: {upload: s3}
lambda_functions:
  worker:
    code: code
    handler: app.handler
  reporter:
    code: code
    handler: app.handler
"""
INLINE_SPEC = """
version: 1
project: shop
environment: dev
lambda_functions:
  worker:
    code: code
    handler: app.handler
"""
PACKAGES = "shop-dev-packages-123456789012"
ARTIFACTS = "shop-dev-artifacts-123456789012"
WORKER = "lambda_functions.worker"


@pytest.fixture
def code(tmp_path):
    return write_code(tmp_path, {"app.py": HANDLER})


def deployed_package(aws, bucket: str, function: str) -> tuple[str, bytes]:
    """(key, bytes) of the one package of function in bucket, read with plain boto3; asserts the key is
    lambda/FUNCTION/SHA256.zip of those bytes and the function's CodeSha256 is theirs."""
    s3 = aws("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"lambda/{function}/").get("Contents", [])]
    config = aws("lambda").get_function(FunctionName=function)["Configuration"]
    wanted = f"lambda/{function}/{base64.b64decode(config['CodeSha256']).hex()}.zip"
    assert wanted in keys, (wanted, keys)
    body = s3.get_object(Bucket=bucket, Key=wanted)["Body"].read()
    assert wanted == f"lambda/{function}/{hashlib.sha256(body).hexdigest()}.zip"
    assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert config["CodeSize"] == len(body)
    return wanted, body


def test_quartet_with_the_spec_bucket_and_the_deployed_code_comes_from_it(code, write_spec, engine, aws):
    e = engine(write_spec(OWN_BUCKET_SPEC))
    change = {c.address: c for c in e.plan().changes}[WORKER]
    location = dict((d.path, d.after) for d in change.diffs)["code_location"]
    assert location.startswith(f"s3://{PACKAGES}/lambda/shop-dev-worker/") and location.endswith(".zip")
    run_quartet(e)
    key, body = deployed_package(aws, PACKAGES, "shop-dev-worker")
    assert location == f"s3://{PACKAGES}/{key}"
    assert body == packaging.build_package(code).zip_bytes   # the tool's deterministic zip, not a copy of it
    assert e.calls.calls[("s3", "PutObject")] == 0 and e.calls.calls[("s3", "HeadObject")] == 1
    assert [b["Name"] for b in aws("s3").list_buckets()["Buckets"]] == [PACKAGES]   # no bucket of the tool's


def test_first_apply_puts_each_package_once_and_creates_from_s3(code, write_spec, engine, aws):
    e = engine(write_spec(OWN_BUCKET_SPEC))
    e.apply()
    calls = e.calls.calls
    assert (calls[("s3", "HeadObject")], calls[("s3", "PutObject")], calls[("lambda", "CreateFunction")]) == (1, 1, 1)
    # moto's GetFunction names the S3 object the code came from (AWS gives a URL of its own copy)
    assert "/lambda/shop-dev-worker/" in aws("lambda").get_function(FunctionName="shop-dev-worker")["Code"]["Location"]


def test_generated_bucket_is_owned_secure_and_shared_by_the_functions(code, write_spec, engine, aws):
    e = engine(write_spec(GENERATED_SPEC))
    plan = e.plan()
    assert "s3_buckets.artifacts" in {c.address for c in plan.changes if c.action == "create"}
    run_quartet(e)
    deployed_package(aws, ARTIFACTS, "shop-dev-worker")
    deployed_package(aws, ARTIFACTS, "shop-dev-reporter")
    s3 = aws("s3")
    assert s3.get_bucket_versioning(Bucket=ARTIFACTS)["Status"] == "Enabled"
    sse = s3.get_bucket_encryption(Bucket=ARTIFACTS)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert sse["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    block = s3.get_public_access_block(Bucket=ARTIFACTS)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    policy = s3.get_bucket_policy(Bucket=ARTIFACTS)["Policy"]
    assert '"aws:SecureTransport":"false"' in policy.replace(" ", "") and '"Effect":"Deny"' in policy.replace(" ", "")
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=ARTIFACTS)["TagSet"]}
    assert tags["provisioner:resource"] == "s3_buckets.artifacts"
    assert (tags["provisioner:project"], tags["provisioner:environment"], tags["ManagedBy"]) == (
        "shop", "dev", "provisioner")


def test_changed_code_is_one_new_object_and_an_update_from_s3(code, write_spec, engine, aws):
    e = engine(write_spec(OWN_BUCKET_SPEC))
    e.apply()
    old_key, _ = deployed_package(aws, PACKAGES, "shop-dev-worker")
    (code / "app.py").write_text(HANDLER + "\nVERSION = 2\n")
    diffs = pending_diffs(e.plan(), WORKER)
    assert set(diffs) == {"code_sha256", "code_location"}
    assert diffs["code_location"][0] == f"s3://{PACKAGES}/{old_key}"
    e.apply()
    assert e.calls.calls[("s3", "PutObject")] == 1 and e.calls.calls[("lambda", "UpdateFunctionCode")] == 1
    new_key, _ = deployed_package(aws, PACKAGES, "shop-dev-worker")
    assert new_key != old_key and f"s3://{PACKAGES}/{new_key}" == diffs["code_location"][1]
    keys = {o["Key"] for o in aws("s3").list_objects_v2(Bucket=PACKAGES)["Contents"]}
    assert keys == {old_key, new_key}   # the previous package stays: a rollback needs it
    assert not e.plan().has_changes


def test_a_package_already_in_the_bucket_is_not_sent_again(code, write_spec, engine, aws):
    e = engine(write_spec(OWN_BUCKET_SPEC))
    e.apply()
    aws("lambda").delete_function(FunctionName="shop-dev-worker")
    e.apply()
    assert e.calls.calls[("lambda", "CreateFunction")] == 1
    assert e.calls.calls[("s3", "HeadObject")] == 1 and e.calls.calls[("s3", "PutObject")] == 0


@pytest.mark.parametrize("tamper", ["delete", "overwrite", "overwrite without checksum"])
def test_package_removed_or_replaced_in_the_bucket_is_drift_and_repaired(code, write_spec, engine, aws, tamper):
    e = engine(write_spec(OWN_BUCKET_SPEC))
    e.apply()
    key, body = deployed_package(aws, PACKAGES, "shop-dev-worker")
    s3 = aws("s3")
    if tamper == "delete":
        s3.delete_object(Bucket=PACKAGES, Key=key)
    elif tamper == "overwrite":
        s3.put_object(Bucket=PACKAGES, Key=key, Body=b"not the package", ChecksumAlgorithm="SHA256")
    else:   # S3 keeps no SHA-256 of this one: the size tells
        s3.put_object(Bucket=PACKAGES, Key=key, Body=b"not the package")
    assert pending_diffs(e.plan(), WORKER) == {"code_location": (None, f"s3://{PACKAGES}/{key}")}
    e.apply()
    assert deployed_package(aws, PACKAGES, "shop-dev-worker") == (key, body)
    assert not e.plan().has_changes


def test_switching_an_inline_function_to_s3_redeploys_it_from_the_bucket(code, write_spec, engine, aws):
    engine(write_spec(INLINE_SPEC)).apply()
    e = engine(write_spec(OWN_BUCKET_SPEC, "s3.yaml"))
    diffs = pending_diffs(e.plan(), WORKER)
    assert list(diffs) == ["code_location"] and diffs["code_location"][0] is None   # same code, new source
    e.apply()
    assert e.calls.calls[("lambda", "UpdateFunctionCode")] == 1
    deployed_package(aws, PACKAGES, "shop-dev-worker")
    assert not e.plan().has_changes


def test_destroy_removes_the_generated_bucket_with_every_object_version(code, write_spec, engine, aws, tmp_path):
    e = engine(write_spec(GENERATED_SPEC))
    e.apply()
    (code / "app.py").write_text(HANDLER + "\nVERSION = 2\n")
    e.apply()
    s3 = aws("s3")
    versions = s3.list_object_versions(Bucket=ARTIFACTS)
    assert len(versions["Versions"]) == 4   # two functions, two packages each
    plan, outcomes = e.destroy()
    assert all(o.status == "done" for o in outcomes)
    assert "s3_buckets.artifacts" in {c.address for c in plan.changes}
    assert s3.list_buckets()["Buckets"] == []
    assert aws("lambda").list_functions()["Functions"] == []


def test_a_package_over_the_direct_upload_limit_goes_through_the_generated_bucket(
        code, write_spec, engine, aws, monkeypatch):
    monkeypatch.setattr(packaging, "DIRECT_UPLOAD_LIMIT", 64 * 1024)   # 50 MB stands for the same rule
    (code / "blob.bin").write_bytes(os.urandom(100 * 1024))            # random: deflate cannot shrink it
    e = engine(write_spec(INLINE_SPEC))
    assert "s3_buckets.artifacts" in {c.address for c in e.plan().changes}
    run_quartet(e)
    _, body = deployed_package(aws, ARTIFACTS, "shop-dev-worker")
    assert len(body) > packaging.DIRECT_UPLOAD_LIMIT


def test_a_small_package_without_a_bucket_stays_inline(code, write_spec, engine, aws):
    e = engine(write_spec(INLINE_SPEC))
    e.apply()
    assert ("s3", "PutObject") not in e.calls.calls and aws("s3").list_buckets()["Buckets"] == []


def _load(write_spec, text):
    return load_spec(str(write_spec(text)), default_registry())


def test_validate_names_an_unknown_artifacts_bucket_with_its_line(code, write_spec):
    text = OWN_BUCKET_SPEC.replace("artifacts_bucket: packages", "artifacts_bucket: pakages").lstrip()
    with pytest.raises(SpecError) as raised:
        _load(write_spec, text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "pakages" in row)
    assert f"spec.yaml:{line}:" in str(raised.value) and "no resource 'pakages' in s3_buckets" in str(raised.value)


def test_validate_rejects_a_spec_bucket_named_like_the_generated_one(code, write_spec):
    text = GENERATED_SPEC.replace("lambda_functions:\n  worker", "s3_buckets:\n  artifacts: {}\nlambda_functions:\n"
                                                                 "  worker", 1)
    with pytest.raises(SpecError, match="generates s3_buckets.artifacts, which the spec also defines"):
        _load(write_spec, text)


def test_validate_rejects_code_without_a_folder(code, write_spec):
    text = INLINE_SPEC.replace("code: code", "code: {upload: s3}")
    with pytest.raises(SpecError, match="code needs path"):
        _load(write_spec, text)


def test_defaults_code_settings_merge_into_each_function(code, write_spec):
    spec = _load(write_spec, GENERATED_SPEC)
    for name in ("worker", "reporter"):
        settings = spec.nodes[f"lambda_functions.{name}"].props["code"]
        assert (settings["path"], settings["upload"]) == ("code", "s3")
        assert settings["artifacts_bucket"].address == "s3_buckets.artifacts"
    assert spec.nodes["s3_buckets.artifacts"].owner == "lambda_functions.worker"
    assert "s3_buckets.artifacts" in spec.nodes["lambda_functions.reporter"].deps
