"""Small assertions shared by the reconciler tests (no fakes: everything runs against mock_aws)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from botocore.stub import Stubber

from provisioner.engine.factory import Factory, Settings
from provisioner.engine.plan import DELETE, NOOP, REPLACE, UPDATE, Planner
from provisioner.services import default_registry
from provisioner.spec.model import load_spec


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


def pending_diffs(plan, address: str) -> dict:
    """The one pending change of this address, as path -> (before, after)."""
    changes = [c for c in plan.pending if c.address == address]
    assert len(changes) == 1, [(c.address, c.diffs) for c in plan.pending]
    return diffs_by_path(changes[0])


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


def write_code(tmp_path: Path, files: dict[str, str], folder: str = "code") -> Path:
    """Writes a function's code folder (name -> source) under tmp_path; returns the folder."""
    code = tmp_path / folder
    code.mkdir()
    for name, text in files.items():
        (code / name).write_text(text)
    return code


@contextmanager
def stubbed_node(spec_path: Path, address: str, service: str) -> Iterator[tuple]:
    """For the calls moto cannot answer: the spec loaded, every node's predicted outputs set, sts stubbed, and a
    Stubber active on the `service` client. Yields (ctx, node, reconciler, desired, stub) for the node at address,
    desired being its normalised, resolved desired state."""
    registry = default_registry()
    spec = load_spec(str(spec_path), registry)
    ctx = Factory(Settings(region="us-east-1")).context("shop", "dev", spec, parallelism=1)  # calls in order
    sts = Stubber(ctx.client("sts"))
    sts.add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:root",
                                             "UserId": "x"})
    sts.activate()
    for each, other in spec.nodes.items():
        ctx.set_outputs(each, registry[other.kind].predicted_outputs(other, ctx))
    node = spec.nodes[address]
    reconciler = registry[node.kind]
    desired = reconciler.normalize(ctx.resolve(Planner(ctx).desired_of(node)))
    stub = Stubber(ctx.client(service))
    stub.activate()
    try:
        yield ctx, node, reconciler, desired, stub
    finally:
        stub.deactivate()
        sts.deactivate()


__all__ = ["run_quartet", "pending", "only_change", "diffs_by_path", "pending_diffs", "assert_diff",
           "assert_repaired", "write_code", "stubbed_node"]


def performed(operations, ctx, address: str = "test", missing: tuple = ()):
    """What a reconciler's create/update/delete returns once the executor has performed its operations."""
    from provisioner.engine.operations import Performer, run
    return run(operations, Performer(ctx, address, missing))
