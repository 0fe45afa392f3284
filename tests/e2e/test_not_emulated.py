"""An API the emulator lacks is asked for once per run: later calls fail fast without a request."""
from __future__ import annotations

import threading

import pytest

from bench.emulator_proxy import LatencyProxy
from provisioner.aws.session import Aws
from provisioner.errors import NotEmulated


@pytest.fixture
def counting_proxy(endpoint):
    proxy = LatencyProxy(int(endpoint.rsplit(":", 1)[1]), latency=0.0)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def test_an_unimplemented_api_is_sent_once_per_run(counting_proxy, boto):
    boto("dynamodb").create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                                  KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                  AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    aws = Aws("us-east-1", endpoint_url=counting_proxy.url,
              credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
    dynamodb = aws.client("dynamodb")
    for _ in range(3):
        with pytest.raises(NotEmulated):
            dynamodb.describe_contributor_insights(TableName="t")
    assert counting_proxy.take_count() == 1
    assert aws.counter.calls[("dynamodb", "DescribeContributorInsights")] == 1
    dynamodb.describe_table(TableName="t")    # the rest of the service is still asked
    assert counting_proxy.take_count() == 1

    fresh = Aws("us-east-1", endpoint_url=counting_proxy.url,
                credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
    with pytest.raises(NotEmulated):   # another run asks again
        fresh.client("dynamodb").describe_contributor_insights(TableName="t")
    assert counting_proxy.take_count() == 1


def test_a_missing_object_is_a_404_not_an_unimplemented_api(endpoint, boto):
    """HeadObject answers a missing key with a bodyless 404: asked again, it is asked again."""
    boto("s3").create_bucket(Bucket="packages")
    aws = Aws("us-east-1", endpoint_url=endpoint,
              credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
    s3 = aws.client("s3")
    for _ in range(2):
        with pytest.raises(s3.exceptions.ClientError) as raised:
            s3.head_object(Bucket="packages", Key="lambda/f/0.zip")
        assert raised.value.response["Error"]["Code"] == "404"
    assert aws.counter.calls[("s3", "HeadObject")] == 2


def test_the_embedded_emulator_lets_object_calls_through_a_tls_only_policy(endpoint, boto):
    """The TLS-only statement denies nothing to a caller over TLS (on AWS, the tool always is one)."""
    import json
    s3 = boto("s3")
    s3.create_bucket(Bucket="packages")
    s3.put_bucket_policy(Bucket="packages", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::packages", "arn:aws:s3:::packages/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}))
    s3.put_object(Bucket="packages", Key="a.zip", Body=b"PK")
    assert s3.get_object(Bucket="packages", Key="a.zip")["Body"].read() == b"PK"
    assert "DenyInsecureTransport" in s3.get_bucket_policy(Bucket="packages")["Policy"]   # kept as written
    s3.put_bucket_policy(Bucket="packages", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::packages/*"}]}))
    with pytest.raises(s3.exceptions.ClientError):   # any other Deny still denies
        s3.get_object(Bucket="packages", Key="a.zip")
