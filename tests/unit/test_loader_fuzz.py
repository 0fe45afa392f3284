"""Property: whatever a spec is mutated into, the loader accepts it or reports clean diagnostics.

Mutations of the reference specs (a value replaced by another type, a key dropped or added, a string
turned into a reference) never raise anything but SpecError, and every diagnostic names the file."""
from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = {name: yaml.safe_load((ROOT / "specs" / name).read_text())
         for name in ("example.yaml", "market-data.yaml", "transactions.yaml")}
REGISTRY = default_registry()

values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, width=32)
    | st.text(max_size=20) | st.sampled_from(["${sqs_queues.orders.arn}", "${nope.x.arn}", "${", "*", "-1"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


@st.composite
def mutated_specs(draw):
    name = draw(st.sampled_from(sorted(SPECS)))
    data = copy.deepcopy(SPECS[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutated_specs())
def test_mutated_specs_load_or_fail_cleanly(tmp_path, data):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    for code in ("lambda_code",):   # code folders resolve from the spec's folder or above: point at ours
        (tmp_path / code).exists() or (tmp_path / code).symlink_to(ROOT / code)
    try:
        load_spec(str(path), REGISTRY)
    except SpecError as exc:
        assert exc.diagnostics, "a SpecError always carries diagnostics"
        assert all(d.file == str(path) for d in exc.diagnostics)
