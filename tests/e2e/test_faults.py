"""Throttling, server errors and dropped connections on a seeded 20% of calls: apply, diff and destroy
still complete with the right result (botocore's standard retries, the tool's waits)."""
from __future__ import annotations

import os
import subprocess
import threading

import pytest

from bench.emulator_proxy import LatencyProxy
from tests.e2e.conftest import CLI, ROOT, owned_arns

SPEC = ROOT / "specs" / "market-data.yaml"


@pytest.fixture
def faulty(endpoint):
    port = int(endpoint.rsplit(":", 1)[1])
    proxy = LatencyProxy(port, latency=0.0, fault_rate=0.2, seed=7)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def _run(proxy, tmp_path, *args):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "PROVISIONER_STATE_DIR": str(tmp_path / "state")}
    argv = [CLI, *map(str, args), "--endpoint-url", proxy.url, "--no-color"]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_apply_diff_destroy_complete_under_injected_faults(faulty, boto, tmp_path):
    applied = _run(faulty, tmp_path, "apply", SPEC, "--yes")
    assert applied.returncode == 0, applied.stderr[-3000:]
    in_sync = _run(faulty, tmp_path, "diff", SPEC)
    assert in_sync.returncode == 0, in_sync.stdout[-3000:] + in_sync.stderr[-3000:]
    assert _run(faulty, tmp_path, "apply", SPEC, "--yes").returncode == 0
    destroyed = _run(faulty, tmp_path, "destroy", SPEC, "--yes")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    assert owned_arns(boto, "market-data", "dev") == []
    # the faults really happened, of every kind
    assert set(faulty.faults) == {"throttle", "500", "503", "reset"}, faulty.faults
    assert sum(faulty.faults.values()) > 0.1 * faulty.requests
