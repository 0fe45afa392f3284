"""Small assertions shared by the reconciler tests (no fakes: everything runs against mock_aws)."""
from __future__ import annotations

from provisioner.plan import DELETE, NOOP, REPLACE, UPDATE


def run_quartet(eng) -> None:
    """plan has changes -> apply -> plan has none -> a second apply makes no write call."""
    first = eng.plan()
    assert first.has_changes
    assert {c.action for c in first.changes} == {"create"}
    eng.apply()
    second = eng.plan()
    assert not second.has_changes, [(c.address, c.action, c.diffs) for c in second.pending]
    eng.apply()
    assert eng.calls.writes == 0, eng.calls.summary()
    assert eng.calls.total > 0


def pending(plan) -> dict:
    """address -> change, for the changes that do something."""
    return {c.address: c for c in plan.changes if c.action != NOOP}


def only_change(plan, address: str, action: str = UPDATE):
    """The plan changes exactly this resource, with this action; returns the change."""
    changes = pending(plan)
    assert set(changes) == {address}, {a: (c.action, c.diffs) for a, c in changes.items()}
    change = changes[address]
    assert change.action == action, (change.action, change.diffs)
    return change


def diffs_by_path(change) -> dict:
    """path -> (before, after)."""
    return {d.path: (d.before, d.after) for d in change.diffs}


def assert_diff(change, path: str, before, after) -> None:
    found = diffs_by_path(change)
    assert path in found, f"{path} not in {sorted(found)}"
    assert found[path] == (before, after), found[path]


def assert_repaired(eng) -> None:
    """apply repairs the drift: the apply updates something, and the plan after it is empty."""
    plan, outcomes = eng.apply()
    assert any(c.action in (UPDATE, REPLACE, DELETE) for c in plan.changes)
    assert all(o.status == "done" for o in outcomes)
    after = eng.plan()
    assert not after.has_changes, [(c.address, c.action, c.diffs) for c in after.pending]


__all__ = ["run_quartet", "pending", "only_change", "diffs_by_path", "assert_diff", "assert_repaired"]
