"""Ctrl-C (SIGINT) or SIGTERM during apply: nothing new starts, calls in flight finish, what was not
done is listed, exit 130; a second Ctrl-C aborts at once. A re-run converges and destroy finds all."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from bench.emulator_proxy import LatencyProxy
from tests.e2e.conftest import CLI, ROOT, owned_arns

SPEC = ROOT / "specs" / "market-data.yaml"


def _proxy(endpoint, latency):
    proxy = LatencyProxy(int(endpoint.rsplit(":", 1)[1]), latency=latency)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy


@pytest.fixture
def slow(endpoint):
    """50 ms per call, so that an apply of market-data takes seconds and can be interrupted midway."""
    proxy = _proxy(endpoint, 0.05)
    yield proxy
    proxy.shutdown()
    proxy.server_close()


@pytest.fixture
def slower(endpoint):
    """0.5 s per call: the calls in flight when the first Ctrl-C comes are still in flight at the second."""
    proxy = _proxy(endpoint, 0.5)
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def _start(proxy, tmp_path, *args):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "PROVISIONER_STATE_DIR": str(tmp_path / "state")}
    return subprocess.Popen([CLI, *map(str, args), "--endpoint-url", proxy.url, "--no-color"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _interrupt_once_started(process, signum, times=1):
    """Send the signal once the first resource is being created (the plan is done)."""
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        lines.append(line)
        if line.strip().startswith("creating "):
            break
    for _ in range(times):
        process.send_signal(signum)
        time.sleep(0.2)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, "".join(lines) + err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_apply_stops_cleanly_and_a_rerun_converges(slow, cli, boto, tmp_path, signum):
    code, out, err = _interrupt_once_started(_start(slow, tmp_path, "apply", SPEC, "--yes"), signum)
    assert code == 130, (out, err)
    assert "interrupted: letting calls in flight finish" in err
    assert "not started: " in err
    assert "Traceback" not in err
    rerun = cli("apply", SPEC, "--yes")   # the lock was released on the way out
    assert rerun.code == 0, rerun
    assert cli("diff", SPEC).code == 0
    assert cli("destroy", SPEC, "--yes").code == 0
    assert owned_arns(boto, "market-data", "dev") == []


def test_second_ctrl_c_aborts_at_once_and_a_plain_apply_then_converges(slower, cli, boto, tmp_path):
    code, out, err = _interrupt_once_started(_start(slower, tmp_path, "apply", SPEC, "--yes"), signal.SIGINT, 2)
    assert code == 130, (out, err)
    assert "aborted: calls in flight may have completed" in err
    rerun = cli("apply", SPEC, "--yes")   # the aborted run's lock is left, and its process is gone
    assert rerun.code == 0, rerun
    assert "taking over the lock of pid" in rerun.err
    assert cli("diff", SPEC).code == 0
    assert cli("destroy", SPEC, "--yes").code == 0
    assert owned_arns(boto, "market-data", "dev") == []
