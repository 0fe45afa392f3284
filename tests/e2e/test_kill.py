"""SIGKILL at any point of an apply: a re-run converges (diff exits 0) and destroy finds and removes
everything that was created, including a bucket created but not yet tagged when the process died.

The CLI runs with a sitecustomize module on PYTHONPATH that kills the process with SIGKILL right after
a chosen AWS write call returns: the tool's code is not changed or mocked.
"""
from __future__ import annotations

import urllib.request

import botocore.exceptions
import pytest

from tests.e2e.conftest import ROOT, leftovers, owned_arns

SPEC = ROOT / "specs" / "market-data.yaml"
PREFIX = "market-data-dev"
# between them every kind but lambda layers: market-data has the dashboard, microservices the secret,
# event rule, VPC and CloudFront distribution
ENVIRONMENTS = {"market-data": ROOT / "specs" / "market-data.yaml",
                "microservices": ROOT / "specs" / "microservices.yaml"}


def _recovers(killable, boto, spec=SPEC, project="market-data"):
    """After a kill, with no unlock: apply converges, diff is clean, destroy leaves nothing of ours."""
    applied = killable("apply", spec, "--yes")
    assert applied.returncode == 0, applied.stderr[-3000:]
    diff = killable("diff", spec)
    assert diff.returncode == 0, diff.stdout[-3000:]
    destroyed = killable("destroy", spec, "--yes")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    assert owned_arns(boto, project, "dev") == []
    assert leftovers(boto, project) == []


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
