"""Planner tests on fake state: no AWS, no moto. A reconciler's create, update and delete are run with a
recorder instead of the executor, and the whole list of operations they would perform is compared."""
from __future__ import annotations

import textwrap
from types import SimpleNamespace

import pytest

from provisioner.aws.session import Aws, OfflineAws
from provisioner.engine.context import Owner
from provisioner.engine.operations import Pending, recorded
from provisioner.engine.plan import diff
from provisioner.services import default_registry
from provisioner.services.base import Observed
from provisioner.spec.model import load_spec


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
            progress=lambda address, message: None, read_in_plan=frozenset(),
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
        reconciler = self.registry[node.kind]
        desired = reconciler.desired(node, self.ctx)
        if reconciler.tag_api is not None:
            desired = {**desired, "tags": reconciler.desired_tags(node, self.ctx)}
        return reconciler.normalize(self.ctx.resolve(desired))

    def creates(self, address) -> list:
        node = self.node(address)
        return recorded(self.registry[node.kind].create(node, self.desired(address), self.ctx))

    def updates(self, address, actual_props: dict, outputs: dict, extra: dict | None = None) -> list:
        """The operations taking a resource found as actual_props to what the spec says (plus extra)."""
        node = self.node(address)
        reconciler = self.registry[node.kind]
        desired = {**self.desired(address), **(extra or {})}
        actual = Observed(actual_props, outputs, actual_props.get("tags", {}))
        diffs = diff(desired, actual.props, tuple(reconciler.write_only))
        return recorded(reconciler.update(node, desired, actual, diffs, self.ctx))

    def deletes(self, kind, owned) -> list:
        return recorded(self.registry[kind].delete(owned, self.ctx))


@pytest.fixture
def fake_state(tmp_path):
    """fake_state(yaml_text) -> FakeState of that spec."""
    def build(text: str) -> FakeState:
        path = tmp_path / "spec.yaml"
        path.write_text(textwrap.dedent(text).lstrip())
        return FakeState(path)
    return build


def shown(operations) -> list:
    """(service:Operation, params) pairs, for comparing whole lists; a value known only from an earlier
    call's answer reads "(from Operation)"."""
    return [(str(op), _known(op.params)) for op in operations]


def _known(value):
    if isinstance(value, Pending):
        return repr(value)
    if isinstance(value, dict):
        return {key: _known(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_known(item) for item in value]
    return value
