"""One apply or destroy at a time per environment, with a lock that leaves nothing behind and frees
itself when its holder dies: processes of the installed CLI against the moto server."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time

from provisioner.engine.lock import EnvironmentLock
from tests.e2e.conftest import CLI, ROOT, leftovers, owned_arns

SPEC = ROOT / "specs" / "example.yaml"
MARKET_DATA = ROOT / "specs" / "market-data.yaml"
LOCK = "/provisioner/shop/dev/lock"


def _lock(boto, command="test"):
    return EnvironmentLock(boto("ssm"), "shop", "dev", command)


def _lock_calls(log) -> list[str]:
    return [line.split()[1] for line in log.read_text().splitlines()
            if line.startswith("ssm ") and line.rstrip().endswith("/lock")]


def test_a_second_run_fails_fast_naming_the_holder_and_changes_nothing(cli, boto):
    held = _lock(boto)
    held.acquire()
    refused = cli("apply", SPEC, "--yes")
    assert refused.code == 1, refused
    assert "shop/dev is locked by" in refused.err and f"pid {os.getpid()}, test" in refused.err
    assert "Traceback" not in refused.err
    assert [arn for arn in owned_arns(boto, "shop", "dev") if not arn.endswith(f":parameter{LOCK}")] == []
    held.release()
    assert cli("apply", SPEC, "--yes").code == 0
    held.acquire()
    assert cli("destroy", SPEC, "--yes").code == 1
    held.release()


def test_lock_timeout_waits_for_the_holder(cli, boto):
    held = _lock(boto)
    held.acquire()
    threading.Timer(2.0, held.release).start()
    applied = cli("apply", SPEC, "--yes", "--lock-timeout", "60")
    assert applied.code == 0, applied
    assert "waiting" in applied.err


def test_unlock_removes_the_lock_whoever_holds_it(cli, boto):
    _lock(boto, "apply").acquire()   # a live holder: only unlock removes it
    unlocked = cli("unlock", SPEC)
    assert unlocked.code == 0, unlocked
    assert "removed the lock of shop/dev held by" in unlocked.out
    assert cli("apply", SPEC, "--yes").code == 0
    assert "is not locked" in cli("unlock", SPEC).out


def test_an_expired_lease_of_another_machine_is_taken_over(cli, boto):
    record = {"token": "gone", "holder": "ci@runner-7", "machine": "runner-7|boot|pid:[1]", "pid": 4242,
              "command": "apply", "started": "2026-12-04T10:00:00+00:00", "lease_seconds": 1}
    boto("ssm").put_parameter(Name=LOCK, Value=json.dumps(record), Type="String")
    time.sleep(2.1)   # past its lease, by the emulator's clock (whole seconds in the Date header)
    applied = cli("apply", SPEC, "--yes")
    assert applied.code == 0, applied
    assert "taking over the lock of pid 4242 (ci@runner-7, apply), gone since" in applied.err
    assert "its lease expired at" in applied.err
    assert boto("ssm").get_parameters_by_path(Path="/provisioner", Recursive=True)["Parameters"] == []


def test_only_a_run_that_changes_something_takes_the_lock_with_one_write_and_one_delete(killable, boto, tmp_path):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    assert killable("apply", MARKET_DATA, "--yes", call_log=first).returncode == 0
    assert _lock_calls(first) == ["PutParameter", "DeleteParameter"]
    assert killable("apply", MARKET_DATA, "--yes", call_log=second).returncode == 0
    assert _lock_calls(second) == []   # the no-op apply makes no call for the lock at all
    assert not [line for line in second.read_text().splitlines()
                if line.startswith("ssm ") and not line.split()[1].startswith("Get")]
    assert boto("ssm").get_parameters_by_path(Path="/", Recursive=True)["Parameters"] == []
    assert [t for t in boto("dynamodb").list_tables()["TableNames"] if not t.startswith("market-data-dev-")] == []


def test_a_killed_apply_leaves_a_lock_the_next_apply_takes_over(killable, boto):
    """The issue's scenario: apply, SIGKILL a second apply mid-way, then apply, diff and destroy with no
    unlock; afterwards the account holds nothing the tool made, lock and bookkeeping included."""
    assert killable("apply", MARKET_DATA, "--yes").returncode == 0
    functions = boto("lambda").list_functions()["Functions"]
    for function in functions:   # drift, so that the second apply has something to write
        boto("lambda").update_function_configuration(FunctionName=function["FunctionName"], MemorySize=1024)
    killed = killable("apply", MARKET_DATA, "--yes", "--parallelism", "1", kill_after=1)   # one update of three
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert json.loads(boto("ssm").get_parameter(Name="/provisioner/market-data/dev/lock")["Parameter"]["Value"])[
        "command"] == "apply"   # the dead run's lock is still there
    applied = killable("apply", MARKET_DATA, "--yes")
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert "taking over the lock of pid" in applied.stderr and "its process is gone" in applied.stderr
    assert killable("diff", MARKET_DATA).returncode == 0
    destroyed = killable("destroy", MARKET_DATA, "--yes")
    assert destroyed.returncode == 0, destroyed.stderr[-3000:]
    assert owned_arns(boto, "market-data", "dev") == []
    assert leftovers(boto, "market-data") == []


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_destroy_with_nothing_to_delete_still_removes_a_dead_runs_lock_but_not_a_live_one(cli, boto):
    live = _lock(boto, "apply")
    live.acquire()
    live._stop_heartbeat.set()   # the record stays as it is; its pid is this live test process
    assert cli("destroy", SPEC, "--yes").code == 0
    assert live.holder() is not None   # a live holder's lock is not removed
    record = {**json.loads(boto("ssm").get_parameter(Name=LOCK)["Parameter"]["Value"]), "pid": _dead_pid()}
    boto("ssm").put_parameter(Name=LOCK, Value=json.dumps(record), Type="String", Overwrite=True)
    destroyed = cli("destroy", SPEC, "--yes")
    assert destroyed.code == 0 and "Nothing to destroy" in destroyed.out, destroyed
    assert "removing the lock of pid" in destroyed.err
    assert boto("ssm").get_parameters_by_path(Path="/", Recursive=True)["Parameters"] == []


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
