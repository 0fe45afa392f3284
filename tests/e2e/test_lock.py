"""One apply or destroy at a time per environment: two processes against the moto server."""
from __future__ import annotations

import os
import subprocess
import threading

from provisioner.lock import EnvironmentLock
from tests.e2e.conftest import CLI, ROOT, owned_arns

SPEC = ROOT / "specs" / "example.yaml"


def _lock(boto, command="test"):
    return EnvironmentLock(boto("dynamodb"), "shop", "dev", command)


def test_a_second_run_fails_fast_naming_the_holder_and_changes_nothing(cli, boto):
    held = _lock(boto)
    held.acquire()
    refused = cli("apply", SPEC, "--yes")
    assert refused.code == 1, refused
    assert "shop/dev is locked by" in refused.err and f"pid {os.getpid()}, test" in refused.err
    assert "Traceback" not in refused.err
    assert owned_arns(boto, "shop", "dev") == []
    assert cli("destroy", SPEC, "--yes").code == 1
    held.release()
    assert cli("apply", SPEC, "--yes").code == 0


def test_lock_timeout_waits_for_the_holder(cli, boto):
    held = _lock(boto)
    held.acquire()
    threading.Timer(2.0, held.release).start()
    applied = cli("apply", SPEC, "--yes", "--lock-timeout", "60")
    assert applied.code == 0, applied
    assert "waiting" in applied.err


def test_unlock_removes_a_lock_left_by_a_killed_run(cli, boto):
    _lock(boto, "apply").acquire()   # never released, as after SIGKILL
    unlocked = cli("unlock", SPEC)
    assert unlocked.code == 0, unlocked
    assert "removed the lock of shop/dev held by" in unlocked.out
    assert cli("apply", SPEC, "--yes").code == 0
    assert "is not locked" in cli("unlock", SPEC).out


def _serial(boto):
    lock = _lock(boto)
    assert lock.observe() is None
    return lock.seen_serial


def test_only_a_run_that_changes_something_takes_the_lock(cli, boto):
    assert cli("apply", SPEC, "--yes").code == 0
    assert _serial(boto) == "1"   # taken and given back once
    assert cli("apply", SPEC, "--yes").code == 0
    assert cli("destroy", SPEC, "--yes").code == 0
    assert _serial(boto) == "2"   # the no-op apply wrote nothing, not even the lock
    assert "Nothing to destroy" in cli("destroy", SPEC, "--yes").out
    assert _serial(boto) == "2"


def test_two_concurrent_applies_never_interleave(cli, boto, endpoint, tmp_path):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "PROVISIONER_STATE_DIR": str(tmp_path / "state")}
    argv = [CLI, "apply", str(SPEC), "--yes", "--endpoint-url", endpoint, "--no-color"]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
            for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "is locked by" in loser and "apply" in loser
    assert cli("diff", SPEC).code == 0
