"""${self.arn} in a resource policy on moto: the policy names its own queue or bucket, resolves before the
resource exists, converges, and a policy changed by hand is drift."""
from __future__ import annotations

import json

import pytest

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import assert_repaired, only_change, run_quartet

SPEC = """
version: 1
project: shop
environment: dev
sqs_queues:
  inbox:
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: PartnerSends
          Effect: Allow
          Principal: {AWS: "arn:aws:iam::111122223333:root"}
          Action: sqs:SendMessage
          Resource: ${self.arn}
s3_buckets:
  reports:
    policy:
      Version: "2012-10-17"
      Statement:
        - Sid: PartnerReads
          Effect: Allow
          Principal: {AWS: "arn:aws:iam::111122223333:root"}
          Action: s3:GetObject
          Resource: ${self.arn}/partner/*
"""
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:shop-dev-inbox"


@pytest.fixture
def spec_path(write_spec):
    return write_spec(SPEC)


def _queue_policy(aws) -> dict:
    sqs = aws("sqs")
    url = sqs.get_queue_url(QueueName="shop-dev-inbox")["QueueUrl"]
    return json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])


def test_policies_name_their_own_resource(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    statement = next(s for s in _queue_policy(aws)["Statement"] if s["Sid"] == "PartnerSends")
    assert statement["Resource"] == QUEUE_ARN
    name, = [b["Name"] for b in aws("s3").list_buckets()["Buckets"]]
    bucket = json.loads(aws("s3").get_bucket_policy(Bucket=name)["Policy"])
    statement = next(s for s in bucket["Statement"] if s["Sid"] == "PartnerReads")
    assert statement["Resource"] == f"arn:aws:s3:::{name}/partner/*"


def test_a_policy_changed_by_hand_is_drift(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    policy = _queue_policy(aws)
    for statement in policy["Statement"]:
        statement["Resource"] = "*"
    sqs = aws("sqs")
    sqs.set_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="shop-dev-inbox")["QueueUrl"],
                             Attributes={"Policy": json.dumps(policy)})
    only_change(e.plan(), "sqs_queues.inbox")
    assert_repaired(e)


def test_self_needs_an_attribute_known_before_creation(write_spec):
    """A queue's URL exists only once AWS answers CreateQueue; its ARN is built from its name."""
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(SPEC.replace("Resource: ${self.arn}\n", "Resource: ${self.url}\n"))),
                  default_registry())
    assert "a resource can only name its own attributes known before it exists (${self.url} is known only after " \
        "creation)" in str(raised.value)
