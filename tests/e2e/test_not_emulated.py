"""An API the emulator lacks is asked for once per run: later calls fail fast without a request."""
from __future__ import annotations

import threading

import pytest

from bench.emulator_proxy import LatencyProxy
from provisioner.aws import Aws
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
