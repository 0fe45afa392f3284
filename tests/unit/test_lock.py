"""The environment lock against moto: an SSM parameter that exists only while held, with a lease that a
heartbeat renews; a dead holder's lock is taken over, a live one's is not."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from provisioner.engine.deployer import plan_under_lock
from provisioner.engine.lock import EnvironmentLock, LockHeld

NAME = "/provisioner/shop/dev/lock"


@pytest.fixture
def ssm():
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def _lock(client, command="apply", **kwargs):
    return EnvironmentLock(client, "shop", "dev", command, tags={"Project": "shop", "Team": "core"}, **kwargs)


def _record(ssm) -> dict:
    return json.loads(ssm.get_parameter(Name=NAME)["Parameter"]["Value"])


def test_the_lock_is_one_tagged_parameter_that_exists_only_while_held(ssm):
    assert _lock(ssm).holder() is None
    lock = _lock(ssm)
    lock.acquire()
    record = _record(ssm)
    assert record["token"] == lock.token and record["pid"] == os.getpid() and record["command"] == "apply"
    tags = {t["Key"]: t["Value"] for t in ssm.list_tags_for_resource(
        ResourceType="Parameter", ResourceId=NAME)["TagList"]}
    assert tags == {"Project": "shop", "Team": "core", "provisioner:project": "shop",
                    "provisioner:environment": "dev", "provisioner:resource": "lock"}
    lock.release()
    assert ssm.get_parameters_by_path(Path="/provisioner", Recursive=True)["Parameters"] == []
    assert lock.calls == 2   # one write, one delete


def test_a_live_holder_blocks_and_is_named(ssm):
    holder = _lock(ssm, "other")
    holder.acquire()
    with pytest.raises(LockHeld, match=rf"shop/dev is locked by .*\(pid {os.getpid()}, other\)"):
        _lock(ssm).acquire()
    assert _record(ssm)["token"] == holder.token
    holder.release()


def test_lock_timeout_waits_for_a_live_holder(ssm):
    holder = _lock(ssm, "other")
    holder.acquire()
    waits = []
    lock = _lock(ssm)
    with pytest.raises(LockHeld):
        lock.acquire(timeout=1.5, on_wait=waits.append)
    assert waits and not lock.held
    holder.release()
    lock.acquire(timeout=1.5)
    assert lock.held and _record(ssm)["token"] == lock.token


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()   # reaped: the pid names no process now
    return child.pid


def test_a_holder_on_this_machine_whose_process_is_gone_is_taken_over(ssm):
    dead = _lock(ssm, "apply")
    dead.acquire()
    dead._stop_heartbeat.set()   # as after SIGKILL: the record stays, its process does not
    record = _record(ssm)
    record["pid"] = _dead_pid()
    ssm.put_parameter(Name=NAME, Value=json.dumps(record), Type="String", Overwrite=True)
    notices = []
    lock = _lock(ssm)
    lock.acquire(on_takeover=notices.append)
    assert _record(ssm)["token"] == lock.token
    assert len(notices) == 1 and f"taking over the lock of pid {record['pid']}" in notices[0]
    assert "its process is gone" in notices[0] and "gone since" in notices[0]


def test_a_zombie_holder_counts_as_gone(ssm):
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(100):   # exited, not yet reaped
        if open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.02)
    lock = _lock(ssm)
    lock.acquire()
    lock._stop_heartbeat.set()
    record = {**_record(ssm), "pid": zombie.pid, "process_started": None, "token": "zombie"}
    ssm.put_parameter(Name=NAME, Value=json.dumps(record), Type="String", Overwrite=True)
    lock.held = False
    taker = _lock(ssm)
    taker.acquire()
    assert _record(ssm)["token"] == taker.token
    zombie.wait()


def test_a_live_holder_on_another_machine_blocks_until_its_lease_runs_out(ssm):
    record = {"token": "elsewhere", "holder": "ci@runner-7", "machine": "runner-7|boot|pid:[1]", "pid": 4242,
              "command": "apply", "started": "2026-12-04T10:00:00+00:00", "lease_seconds": 2}
    ssm.put_parameter(Name=NAME, Value=json.dumps(record), Type="String")
    with pytest.raises(LockHeld, match="ci@runner-7 .pid 4242, apply"):
        _lock(ssm).acquire()
    time.sleep(3.2)   # the holder renewed nothing for longer than its lease (and the Date header's second)
    notices = []
    lock = _lock(ssm)
    lock.acquire(on_takeover=notices.append)
    assert lock.held and "its lease expired at" in notices[0] and "pid 4242 (ci@runner-7, apply)" in notices[0]


def test_the_heartbeat_renews_the_lease_of_a_long_run(ssm):
    lock = _lock(ssm, lease_seconds=0.6)
    lock.acquire()
    first = ssm.get_parameter(Name=NAME)["Parameter"]["Version"]
    time.sleep(1.0)   # several renewals of a 0.6 s lease
    assert ssm.get_parameter(Name=NAME)["Parameter"]["Version"] > first
    assert lock.holder()["gone"] is None
    lock.release()
    assert lock.holder() is None


def test_a_run_whose_lock_was_taken_over_is_told_and_leaves_the_new_lock(ssm):
    lock = _lock(ssm, lease_seconds=0.6)
    told = []
    lock.on_lost = told.append
    lock.acquire()
    record = {**_record(ssm), "token": "someone-else"}
    ssm.put_parameter(Name=NAME, Value=json.dumps(record), Type="String", Overwrite=True)
    time.sleep(0.5)
    assert told and "another run took the lock over" in told[0]
    lock.release()
    assert _record(ssm)["token"] == "someone-else"   # not deleted: it is not ours any more


def test_unlock_removes_whoever_holds_it(ssm):
    holder = _lock(ssm, "other")
    holder.acquire()
    removed = _lock(ssm, "unlock").force_release()
    assert removed["token"] == holder.token and _lock(ssm).holder() is None
    assert _lock(ssm, "unlock").force_release() is None


def test_intents_are_parameters_of_the_environment_until_fulfilled(ssm):
    lock = _lock(ssm)
    lock.intend("s3:shop-dev-data")
    assert _lock(ssm).pending("s3:") == ["s3:shop-dev-data"]
    lock.fulfilled("s3:shop-dev-data")
    assert _lock(ssm).pending("s3:") == []
    calls = lock.calls
    lock.fulfilled("s3:never-announced")   # nothing to delete: no call
    assert lock.calls == calls


def test_clear_leftovers_removes_a_dead_runs_lock_and_intents_but_not_a_live_runs(ssm):
    live = _lock(ssm, "apply")
    live.acquire()
    live.intend("s3:shop-dev-data")
    assert _lock(ssm, "destroy").clear_leftovers() == []   # a live run's intents are its own
    live._stop_heartbeat.set()
    record = {**_record(ssm), "pid": _dead_pid()}
    ssm.put_parameter(Name=NAME, Value=json.dumps(record), Type="String", Overwrite=True)
    notices = []
    cleared = _lock(ssm, "destroy").clear_leftovers(on_notice=notices.append)
    assert sorted(cleared) == ["/provisioner/shop/dev/intents/s3/shop-dev-data", NAME]
    assert notices and "removing the lock of pid" in notices[0]
    assert ssm.get_parameters_by_path(Path="/provisioner", Recursive=True)["Parameters"] == []


def test_the_lease_is_judged_by_the_parameters_clock(ssm):
    lock = _lock(ssm)
    lock.acquire()
    lock._stop_heartbeat.set()
    parameter = ssm.get_parameter(Name=NAME)["Parameter"]
    long_ago = parameter["LastModifiedDate"] - datetime.timedelta(hours=1)
    fresh = _lock(ssm)._holder({**parameter, "Value": json.dumps({**_record(ssm), "machine": "elsewhere"})},
                               parameter["LastModifiedDate"])
    assert fresh["gone"] is None
    stale = _lock(ssm)._holder({**parameter, "LastModifiedDate": long_ago,
                                "Value": json.dumps({**_record(ssm), "machine": "elsewhere"})},
                               parameter["LastModifiedDate"])
    assert stale["gone"].startswith("its lease expired at")


class Planner:
    """make_plan for plan_under_lock: each call is one plan; during the first, `meanwhile` runs."""

    def __init__(self, lock, has_changes, meanwhile=lambda: None):
        self.lock, self.calls, self.has_changes, self.meanwhile = lock, 0, has_changes, meanwhile
        self.held_while_planning = []
        self.forgotten = 0

    def __call__(self):
        self.calls += 1
        self.held_while_planning.append(self.lock.held)
        if self.calls == 1:
            self.meanwhile()
        ctx = SimpleNamespace(forget_discovery=lambda: setattr(self, "forgotten", self.forgotten + 1))
        return ctx, SimpleNamespace(has_changes=self.has_changes)


def test_a_plan_with_nothing_to_change_makes_no_call_for_the_lock(ssm):
    lock = _lock(ssm)
    make_plan = Planner(lock, has_changes=False)
    plan_under_lock(lock, make_plan, timeout=0)
    assert make_plan.calls == 1 and not lock.held and lock.calls == 0


def test_a_plan_with_changes_is_made_again_under_the_lock(ssm):
    lock = _lock(ssm)
    make_plan = Planner(lock, has_changes=True)
    plan_under_lock(lock, make_plan, timeout=0)
    assert make_plan.held_while_planning == [False, True] and make_plan.forgotten == 1
    assert lock.calls == 1   # the take; the release comes at the end of the run
    lock.release()


def test_a_run_holding_the_lock_stops_a_run_with_changes_before_its_second_plan(ssm):
    holder = _lock(ssm, "other")
    holder.acquire()
    lock = _lock(ssm)
    make_plan = Planner(lock, has_changes=True)
    with pytest.raises(LockHeld):
        plan_under_lock(lock, make_plan, timeout=0)
    assert make_plan.calls == 1 and not lock.held
    holder.release()
