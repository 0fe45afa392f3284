"""Planner tests on fake state: no AWS, no moto. A reconciler's create, update and delete are run with a
recorder instead of the executor, and the whole list of operations they would perform is compared."""
from __future__ import annotations

import textwrap
from types import SimpleNamespace

import pytest

from provisioner.aws.session import Aws, OfflineAws
from provisioner.engine.operations import Recorder, Together, recorded, run
from provisioner.engine.ownership import Owner
from provisioner.engine.plan import Planner, diff
from provisioner.services import default_registry
from provisioner.services.base import Observed
from provisioner.spec.model import load_spec


class Answering(Recorder):
    """Records the operations and answers the ones named in answers ("service:Operation" -> response) as
    AWS would, for the steps that go on from an answer (an id created, an ETag read)."""

    def __init__(self, answers: dict):
        super().__init__()
        self.answers = answers

    def __call__(self, operation):
        shown = super().__call__(operation)
        return shown if isinstance(operation, Together) else self.answers.get(str(operation), shown)


def answered(operations, answers: dict | None) -> list:
    if answers is None:
        return recorded(operations)
    recorder = Answering(answers)
    run(operations, recorder)
    return recorder.operations


class FakeState:
    """One spec, resolved offline: desired values as the planner computes them, any `actual` given by the
    test, and the operations a create/update/delete of a node would perform."""

    def __init__(self, path):
        self.registry = default_registry()
        self.spec = load_spec(str(path), self.registry)
        aws = OfflineAws(self.spec.region)
        # real botocore clients (URLs, models) that never reach AWS: nothing listens on port 9
        clients = Aws(self.spec.region, endpoint_url="http://127.0.0.1:9",
                      credentials={"aws_access_key_id": "fake", "aws_secret_access_key": "fake"})
        self.ctx = SimpleNamespace(
            aws=aws, region=aws.region, account_id=aws.account_id, spec=self.spec, registry=self.registry,
            owner=Owner(self.spec.project, self.spec.environment), warnings=[], client=clients.client,
            progress=lambda address, message: None, read_in_plan=frozenset(), intents=None,
            concurrently=lambda calls: {name: call() for name, call in calls.items()})
        from provisioner.engine.context import Context
        real = Context(aws, self.ctx.owner, self.registry, self.spec)
        for name in ("tags_for", "deliveries_to", "resolve", "lookup", "set_outputs", "memo", "warn"):
            setattr(self.ctx, name, getattr(real, name))
        for address, node in self.spec.nodes.items():
            real.set_outputs(address, self.registry[node.kind].predicted_outputs(node, self.ctx))

    def node(self, address):
        return self.spec.nodes[address]

    def desired(self, address) -> dict:
        node = self.node(address)
        desired = Planner(self.ctx).desired_of(node)
        return self.registry[node.kind].normalize(self.ctx.resolve(desired))

    def creates(self, address, answers: dict | None = None) -> list:
        node = self.node(address)
        return answered(self.registry[node.kind].create(node, self.desired(address), self.ctx), answers)

    def updates(self, address, actual_props: dict, outputs: dict, extra: dict | None = None,
                answers: dict | None = None) -> list:
        """The operations taking a resource found as actual_props to what the spec says (plus extra)."""
        node = self.node(address)
        reconciler = self.registry[node.kind]
        desired = {**self.desired(address), **(extra or {})}
        actual = Observed(actual_props, outputs, actual_props.get("tags", {}))
        diffs = diff(desired, actual.props, tuple(reconciler.write_only))
        return answered(reconciler.update(node, desired, actual, diffs, self.ctx), answers)

    def deletes(self, kind, owned, answers: dict | None = None) -> list:
        return answered(self.registry[kind].delete(owned, self.ctx), answers)


@pytest.fixture
def fake_state(tmp_path):
    """fake_state(yaml_text) -> FakeState of that spec."""
    def build(text: str) -> FakeState:
        path = tmp_path / "spec.yaml"
        path.write_text(textwrap.dedent(text).lstrip())
        return FakeState(path)
    return build


def shown(operations) -> list:
    """(service:Operation, params) pairs, for comparing whole lists."""
    return [(str(op), op.params) for op in operations]


class From:
    """Equal to a value only the answer of an earlier call gives ("(from Operation)" when only shown)."""

    def __init__(self, operation: str):
        self.operation = operation

    def __eq__(self, other):
        return repr(other) == f"(from {self.operation})"

    def __repr__(self) -> str:
        return f"(from {self.operation})"
