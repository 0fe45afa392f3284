"""The environment lock against moto: taken only to change something, and only on an unchanged serial."""
from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from provisioner.cli import _plan_under_lock
from provisioner.lock import LockHeld, EnvironmentLock


@pytest.fixture
def dynamodb():
    with mock_aws():
        yield boto3.client("dynamodb", region_name="us-east-1")


def _lock(client, command="apply"):
    return EnvironmentLock(client, "shop", "dev", command)


def _cycle(client):
    """Another run that takes the lock, writes, and gives it back."""
    other = _lock(client, "other")
    other.acquire()
    other.release()


def test_first_take_creates_the_table_and_release_counts_up(dynamodb):
    lock = _lock(dynamodb)
    assert lock.observe() is None and lock.seen_serial is None
    assert lock.take_if_unchanged()
    assert lock.observe()["command"] == "apply"
    lock.release()
    assert lock.observe() is None and lock.seen_serial == "1"


def test_a_take_fails_once_another_run_has_held_the_lock_since_observe(dynamodb):
    _cycle(dynamodb)
    lock = _lock(dynamodb)
    lock.observe()
    _cycle(dynamodb)
    assert not lock.take_if_unchanged() and not lock.held
    lock.release()   # not held: nothing to give back
    assert _lock(dynamodb).observe() is None


def test_of_two_runs_that_observed_the_same_serial_one_takes_the_lock(dynamodb):
    first, second = _lock(dynamodb), _lock(dynamodb)
    first.observe(), second.observe()
    assert first.take_if_unchanged()
    assert not second.take_if_unchanged()
    with pytest.raises(LockHeld, match="shop/dev is locked by .*pid .*apply"):
        second.acquire()


def test_unlock_clears_the_holder_and_moves_the_serial(dynamodb):
    stale = _lock(dynamodb)
    stale.acquire()
    waiting = _lock(dynamodb)
    assert waiting.observe()["token"] == stale.token
    assert _lock(dynamodb, "unlock").force_release()["token"] == stale.token
    assert waiting.observe() is None and waiting.seen_serial == "1"
    assert _lock(dynamodb, "unlock").force_release() is None


class Planner:
    """make_plan for _plan_under_lock: each call is one plan; during the first, `meanwhile` runs."""

    def __init__(self, has_changes, meanwhile=lambda: None):
        self.calls, self.has_changes, self.meanwhile = 0, has_changes, meanwhile
        self.forgotten = 0

    def __call__(self):
        self.calls += 1
        if self.calls == 1:
            self.meanwhile()
        ctx = SimpleNamespace(forget_discovery=lambda: setattr(self, "forgotten", self.forgotten + 1))
        return ctx, SimpleNamespace(has_changes=self.has_changes)


def test_a_plan_with_nothing_to_change_takes_no_lock(dynamodb):
    _cycle(dynamodb)
    lock, make_plan = _lock(dynamodb), Planner(has_changes=False)
    _plan_under_lock(lock, make_plan, timeout=0)
    assert make_plan.calls == 1 and not lock.held
    assert _lock(dynamodb).observe() is None and lock.seen_serial == "1"


def test_a_plan_with_changes_takes_the_lock_without_planning_again(dynamodb):
    lock, make_plan = _lock(dynamodb), Planner(has_changes=True)
    _plan_under_lock(lock, make_plan, timeout=0)
    assert make_plan.calls == 1 and lock.held


def test_a_run_that_wrote_during_the_plan_makes_it_plan_again_under_the_lock(dynamodb):
    lock, make_plan = _lock(dynamodb), Planner(has_changes=True, meanwhile=lambda: _cycle(dynamodb))
    _plan_under_lock(lock, make_plan, timeout=0)
    assert make_plan.calls == 2 and make_plan.forgotten == 1 and lock.held


def test_a_run_holding_the_lock_at_the_start_is_waited_for_before_any_plan(dynamodb):
    holder = _lock(dynamodb, "other")
    holder.acquire()
    make_plan = Planner(has_changes=False)
    with pytest.raises(LockHeld):
        _plan_under_lock(_lock(dynamodb), make_plan, timeout=0)
    assert make_plan.calls == 0
