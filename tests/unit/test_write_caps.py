"""IAM and API Gateway writes are capped per service, whatever the parallelism; reads are not."""
from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest
from moto import mock_aws

from provisioner.aws.session import WRITE_CAPS, Aws


def _peak_concurrency(client, calls: list) -> int:
    """Runs calls on 12 threads; each request is held 50 ms once created. Returns the most in flight."""
    in_flight, peak, lock = [0], [0], threading.Lock()

    def hold(**_):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1

    client.meta.events.register("request-created", hold)
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda call: call(), calls))
    return peak[0]


@pytest.fixture
def aws_layer():
    with mock_aws():
        yield Aws("us-east-1", credentials={"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})


def test_iam_writes_never_exceed_the_cap(aws_layer):
    iam = aws_layer.client("iam")
    calls = [lambda i=i: iam.create_role(RoleName=f"role-{i}", AssumeRolePolicyDocument="{}") for i in range(12)]
    assert _peak_concurrency(iam, calls) == WRITE_CAPS["iam"]
    assert len(iam.list_roles()["Roles"]) == 12


def test_a_failed_write_gives_its_slot_back(aws_layer):
    iam = aws_layer.client("iam")
    for _ in range(WRITE_CAPS["iam"] + 2):   # each fails with NoSuchEntity; a leaked slot would hang here
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.delete_role(RoleName="missing")
    iam.create_role(RoleName="after-failures", AssumeRolePolicyDocument="{}")


def test_reads_of_a_capped_service_are_not_capped(aws_layer):
    iam = aws_layer.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    calls = [lambda: iam.get_role(RoleName="r") for _ in range(12)]
    assert _peak_concurrency(iam, calls) > WRITE_CAPS["iam"]


def test_services_without_a_cap_write_at_full_parallelism(aws_layer):
    sqs = aws_layer.client("sqs")
    calls = [lambda i=i: sqs.create_queue(QueueName=f"q-{i}") for i in range(12)]
    assert _peak_concurrency(sqs, calls) > WRITE_CAPS["iam"]
