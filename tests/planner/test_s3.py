"""S3 buckets: the calls of a create, of each update and of a delete, on fake state."""
from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
s3_buckets:
  data:
    lifecycle: [{id: old, expire_days: 30}]
"""
BUCKET = "shop-dev-data-{account_id}"   # the fake state binds no account
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": "s3_buckets.data"}
TAG_SET = {"TagSet": [{"Key": k, "Value": v} for k, v in sorted(OWNERSHIP.items())]}
POLICY = ('{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*",'
          f'"Action":"s3:*","Resource":["arn:aws:s3:::{BUCKET}","arn:aws:s3:::{BUCKET}/*"],'
          '"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}')
LIFECYCLE = {"Rules": [{"ID": "old", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 30}}]}


def test_create_makes_the_bucket_tags_it_then_writes_each_setting_it_has(fake_state):
    state = fake_state(SPEC)
    assert shown(state.creates("s3_buckets.data")) == [
        ("s3:CreateBucket", {"Bucket": BUCKET, "ObjectOwnership": "BucketOwnerEnforced"}),
        ("s3:PutBucketTagging", {"Bucket": BUCKET, "Tagging": TAG_SET}),
        ("s3:PutPublicAccessBlock", {"Bucket": BUCKET, "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True}}),
        ("s3:PutBucketEncryption", {"Bucket": BUCKET, "ServerSideEncryptionConfiguration": {"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}]}}),
        ("s3:PutBucketVersioning", {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Enabled"}}),
        ("s3:PutBucketLifecycleConfiguration", {"Bucket": BUCKET, "LifecycleConfiguration": LIFECYCLE}),
        ("s3:PutBucketPolicy", {"Bucket": BUCKET, "Policy": POLICY})]


def in_sync(state) -> dict:
    return {k: v for k, v in state.desired("s3_buckets.data").items() if not k.startswith("_")}


def test_suspended_versioning_is_one_put_bucket_versioning(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "versioning": "Suspended"}
    assert shown(state.updates("s3_buckets.data", actual, {})) == [
        ("s3:PutBucketVersioning", {"Bucket": BUCKET, "VersioningConfiguration": {"Status": "Enabled"}})]


def test_each_changed_setting_has_its_own_call_and_an_extra_one_is_deleted(fake_state):
    state = fake_state(SPEC)
    cors = [{"allowed_origins": ["*"], "allowed_methods": ["GET"], "allowed_headers": [], "expose_headers": [],
             "max_age_seconds": None}]
    actual = {**in_sync(state), "lifecycle": {}, "cors": cors, "policy": None}
    assert shown(state.updates("s3_buckets.data", actual, {})) == [
        ("s3:PutBucketLifecycleConfiguration", {"Bucket": BUCKET, "LifecycleConfiguration": LIFECYCLE}),
        ("s3:DeleteBucketCors", {"Bucket": BUCKET}),
        ("s3:PutBucketPolicy", {"Bucket": BUCKET, "Policy": POLICY})]


def test_tag_drift_puts_the_whole_tag_set_again(fake_state):
    state = fake_state(SPEC)
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates("s3_buckets.data", actual, {"name": BUCKET})) == [
        ("s3:PutBucketTagging", {"Bucket": BUCKET, "Tagging": TAG_SET})]


def test_in_sync_makes_no_call(fake_state):
    state = fake_state(SPEC)
    assert state.updates("s3_buckets.data", in_sync(state), {"name": BUCKET}) == []


OWNED = OwnedResource("s3_buckets", "s3_buckets.data", BUCKET, f"arn:aws:s3:::{BUCKET}")
FIRST_ROUND = [
    ("s3:PutBucketNotificationConfiguration", {"Bucket": BUCKET, "NotificationConfiguration": {}}),
    ("s3:DeleteBucketPolicy", {"Bucket": BUCKET}),
    ("s3:ListObjectVersions", {"Bucket": BUCKET, "MaxKeys": 1})]


def test_deleting_an_empty_bucket_takes_two_rounds_that_accept_a_bucket_already_gone(fake_state):
    state = fake_state(SPEC)
    operations = state.deletes("s3_buckets", OWNED, answers={"s3:ListObjectVersions": {}})
    assert shown(operations) == [*FIRST_ROUND, ("s3:DeleteBucket", {"Bucket": BUCKET})]
    assert all(operation.missing_ok for operation in operations)


def test_a_bucket_with_objects_is_emptied_before_it_is_deleted(fake_state):
    state = fake_state(SPEC)
    page = {"Versions": [{"Key": "a", "VersionId": "1"}], "DeleteMarkers": [{"Key": "b", "VersionId": "2"}]}
    operations = state.deletes("s3_buckets", OWNED, answers={"s3:ListObjectVersions": page, "s3:DeleteObjects": {}})
    assert shown(operations) == [
        *FIRST_ROUND,
        ("s3:ListObjectVersions", {"Bucket": BUCKET, "MaxKeys": 1000}),
        ("s3:DeleteObjects", {"Bucket": BUCKET, "Delete": {"Objects": [{"Key": "a", "VersionId": "1"},
                                                                       {"Key": "b", "VersionId": "2"}],
                                                           "Quiet": True}}),
        ("s3:DeleteBucket", {"Bucket": BUCKET})]
