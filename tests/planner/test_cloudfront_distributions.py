"""CloudFront distributions: the calls of a create, of each update and of a delete, on fake state."""
import pytest

from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
kms_keys:
  data: {}
s3_buckets:
  content: {encryption: {kms_key: data}}
cloudfront_distributions:
  cdn:
    origin: {s3_bucket: content}
"""
DIST = "cloudfront_distributions.cdn"
ARN = "arn:aws:cloudfront::123456789012:distribution/E1"
OUTPUTS = {"id": "E1", "arn": ARN, "_oac_id": "o1"}
OWNERSHIP = {"Environment": "dev", "ManagedBy": "provisioner", "Project": "shop", "provisioner:environment": "dev",
             "provisioner:project": "shop", "provisioner:resource": DIST}
MARKER = f"{DIST} of shop/dev (provisioner)"
OAC_CONFIG = {"Name": "shop-dev-cdn", "Description": MARKER, "SigningProtocol": "sigv4", "SigningBehavior": "always",
              "OriginAccessControlOriginType": "s3"}
CONFIG = {
    "CallerReference": "shop-dev-cdn-o1", "Comment": "", "Enabled": True, "DefaultRootObject": "",
    "PriceClass": "PriceClass_All", "IsIPV6Enabled": True,
    "Origins": {"Quantity": 1, "Items": [{"Id": "s3-origin", "OriginAccessControlId": "o1",
                                          "DomainName": "shop-dev-content-{account_id}.s3.us-east-1.amazonaws.com",
                                          "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
    "DefaultCacheBehavior": {
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}, "TargetOriginId": "s3-origin",
        "ViewerProtocolPolicy": "redirect-to-https", "Compress": True, "MinTTL": 0, "DefaultTTL": 86400,
        "MaxTTL": 31536000, "AllowedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"],
                                               "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}}},
    "Restrictions": {"GeoRestriction": {"RestrictionType": "none", "Quantity": 0}},
}
DISTRIBUTION = {"Distribution": {"Id": "E1", "ARN": ARN, "DomainName": "d1.cloudfront.net"}}


@pytest.fixture
def state(fake_state):
    return fake_state(SPEC)


def in_sync(state) -> dict:
    return dict(state.desired(DIST))


def oacs(*found) -> dict:
    return {"OriginAccessControlList": {"Items": list(found)}}


def test_create_makes_the_access_control_then_the_tagged_distribution(state):
    answers = {"cloudfront:CreateOriginAccessControl": {"OriginAccessControl": {"Id": "o1"}},
               "cloudfront:CreateDistributionWithTags": DISTRIBUTION}
    assert shown(state.creates(DIST, answers)) == [
        ("cloudfront:ListOriginAccessControls", {}),
        ("cloudfront:CreateOriginAccessControl", {"OriginAccessControlConfig": OAC_CONFIG}),
        ("cloudfront:CreateDistributionWithTags", {"DistributionConfigWithTags": {
            "DistributionConfig": CONFIG,
            "Tags": {"Items": [{"Key": k, "Value": v} for k, v in sorted(OWNERSHIP.items())]}}})]


def test_a_config_change_writes_the_whole_config_with_the_etag_read_before(state):
    actual = {**in_sync(state), "price_class": "PriceClass_100"}
    answers = {"cloudfront:GetDistributionConfig": {"ETag": "e1", "DistributionConfig": {
                   **CONFIG, "PriceClass": "PriceClass_100"}},
               "cloudfront:UpdateDistribution": DISTRIBUTION}
    assert shown(state.updates(DIST, actual, OUTPUTS, answers=answers)) == [
        ("cloudfront:GetDistributionConfig", {"Id": "E1"}),
        ("cloudfront:UpdateDistribution", {"Id": "E1", "IfMatch": "e1", "DistributionConfig": CONFIG})]


def test_access_control_drift_updates_the_access_control_only(state):
    synced = in_sync(state)
    actual = {**synced, "origin_access_control": {**synced["origin_access_control"], "signing_behavior": "never"}}
    answers = {"cloudfront:ListOriginAccessControls": oacs({"Id": "o1", **OAC_CONFIG, "SigningBehavior": "never"}),
               "cloudfront:GetOriginAccessControl": {"ETag": "oe"}}
    assert shown(state.updates(DIST, actual, OUTPUTS, answers=answers)) == [
        ("cloudfront:ListOriginAccessControls", {}),
        ("cloudfront:GetOriginAccessControl", {"Id": "o1"}),
        ("cloudfront:UpdateOriginAccessControl", {"Id": "o1", "IfMatch": "oe", "OriginAccessControlConfig": OAC_CONFIG})]


def test_tag_drift_is_an_untag_then_a_tag_call_in_items(state):
    actual = {**in_sync(state), "tags": {**OWNERSHIP, "stray": "x", "Project": "other"}}
    assert shown(state.updates(DIST, actual, OUTPUTS)) == [
        ("cloudfront:UntagResource", {"Resource": ARN, "TagKeys": {"Items": ["stray"]}}),
        ("cloudfront:TagResource", {"Resource": ARN, "Tags": {"Items": [{"Key": "Project", "Value": "shop"}]}})]


def test_in_sync_makes_no_call(state):
    assert state.updates(DIST, in_sync(state), OUTPUTS) == []


def test_delete_disables_waits_deletes_then_removes_our_access_control(state):
    answers = {"cloudfront:GetDistributionConfig": {"ETag": "e1", "DistributionConfig": CONFIG},
               "cloudfront:GetDistribution": {"ETag": "e2"},
               "cloudfront:ListOriginAccessControls": oacs({"Id": "o1", **OAC_CONFIG},
                                                           {"Id": "o2", **OAC_CONFIG, "Description": "another's"}),
               "cloudfront:GetOriginAccessControl": {"ETag": "oe"}}
    owned = OwnedResource("cloudfront_distributions", DIST, "E1", ARN)
    operations = state.deletes("cloudfront_distributions", owned, answers)
    assert shown(operations) == [
        ("cloudfront:GetDistributionConfig", {"Id": "E1"}),
        ("cloudfront:UpdateDistribution", {"Id": "E1", "IfMatch": "e1", "DistributionConfig": {**CONFIG,
                                                                                              "Enabled": False}}),
        ("cloudfront:wait distribution_deployed", {"Id": "E1"}),
        ("cloudfront:GetDistribution", {"Id": "E1"}),
        ("cloudfront:DeleteDistribution", {"Id": "E1", "IfMatch": "e2"}),
        ("cloudfront:ListOriginAccessControls", {}),
        ("cloudfront:GetOriginAccessControl", {"Id": "o1"}),
        ("cloudfront:DeleteOriginAccessControl", {"Id": "o1", "IfMatch": "oe"})]
    assert [str(op) for op in operations if getattr(op, "missing_ok", False)] == [
        "cloudfront:GetDistributionConfig", "cloudfront:DeleteDistribution", "cloudfront:DeleteOriginAccessControl"]
