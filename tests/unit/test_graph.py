"""provisioner.spec.graph: dependency order, cycles, and the DOT / Mermaid pictures."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli import cli
from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.graph import find_cycles, to_dot, to_mermaid, topological_order
from provisioner.spec.model import ResourceNode, load_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "specs" / "example.yaml"


def nodes(**deps):
    """nodes(a="b c", b="", c="") -> {"x.a": node depending on x.b and x.c, ...} in the given order."""
    out = {}
    for name, targets in deps.items():
        node = ResourceNode(kind="x", name=name, props={}, path=("x", name))
        node.deps = {f"x.{t}" for t in targets.split()}
        out[node.address] = node
    return out


def example():
    return load_spec(str(EXAMPLE), default_registry())


def assert_dependencies_first(order, graph):
    position = {address: i for i, address in enumerate(order)}
    for address, node in graph.items():
        for dep in node.deps:
            assert position[dep] < position[address], f"{dep} must come before {address} in {order}"


def test_topological_order_puts_dependencies_first():
    graph = nodes(topic="queue key", queue="dlq key", dlq="key", key="")
    order = topological_order(graph)
    assert order == ["x.key", "x.dlq", "x.queue", "x.topic"]
    assert_dependencies_first(order, graph)


def test_topological_order_keeps_spec_order_for_independent_nodes():
    assert topological_order(nodes(c="", a="", b="")) == ["x.c", "x.a", "x.b"]
    assert topological_order(nodes(c="", a="b", b="")) == ["x.c", "x.b", "x.a"]


def test_topological_order_of_the_example_spec():
    spec = example()
    order = topological_order(spec.nodes)
    assert sorted(order) == sorted(spec.nodes)
    assert_dependencies_first(order, spec.nodes)
    assert order[0] == "kms_keys.data"
    assert order.index("sqs_queues.orders-dlq") < order.index("sqs_queues.orders") \
        < order.index("sns_topics.order-events")


def test_topological_order_terminates_on_a_cycle():
    order = topological_order(nodes(a="b", b="a", c=""))
    assert sorted(order) == ["x.a", "x.b", "x.c"]


def test_no_cycles_in_a_dag():
    assert find_cycles(nodes(a="b c", b="c", c="")) == []
    assert find_cycles(example().nodes) == []


def test_two_node_cycle():
    assert find_cycles(nodes(a="b", b="a")) == [["x.a", "x.b", "x.a"]]


def test_longer_cycle_behind_an_acyclic_entry():
    assert find_cycles(nodes(entry="a", a="b", b="c", c="a")) == [["x.a", "x.b", "x.c", "x.a"]]


def test_dependencies_outside_the_graph_are_ignored():
    assert find_cycles(nodes(a="missing")) == []
    assert topological_order(nodes(a="missing")) == ["x.a"]


def cycle_error(text):
    with pytest.raises(SpecError) as caught:
        load_spec("spec.yaml", default_registry(), text="version: 1\nproject: shop\nenvironment: dev\n" + text)
    [diagnostic] = caught.value.diagnostics
    return diagnostic


def test_cycle_diagnostic_points_at_the_reference():
    diagnostic = cycle_error(
        "sqs_queues:\n"
        "  a:\n"
        "    retention_seconds: 1209600\n"
        "    dead_letter: {queue: b}\n"
        "  b:\n"
        "    retention_seconds: 1209600\n"
        "    dead_letter: {queue: a}\n")
    assert (diagnostic.line, diagnostic.path) == (7, "sqs_queues.a.dead_letter.queue")
    assert "reference cycle: sqs_queues.a -> sqs_queues.b -> sqs_queues.a" in diagnostic.message


def test_cycle_through_a_tag_reference_points_at_the_tag():
    diagnostic = cycle_error(
        "sqs_queues:\n"
        "  a:\n"
        "    tags:\n"
        "      Dlq: ${sqs_queues.b.url}\n"
        "  b:\n"
        "    dead_letter: {queue: a}\n")
    assert (diagnostic.line, diagnostic.path) == (7, "sqs_queues.a.tags.Dlq")
    assert "reference cycle: sqs_queues.a -> sqs_queues.b -> sqs_queues.a" in diagnostic.message


def test_dot_has_every_node_and_edge():
    spec = example()
    dot = to_dot(spec)
    assert dot.startswith("digraph provisioner {") and dot.rstrip().endswith("}")
    for address, node in spec.nodes.items():
        assert f'"{address}" [label="{address}\\n{node.physical_name}"];' in dot
    edges = set(re.findall(r'^  "([^"]+)" -> "([^"]+)";$', dot, re.M))
    assert edges == {(n.address, dep) for n in spec.nodes.values() for dep in n.deps}
    assert ("sqs_queues.orders", "sqs_queues.orders-dlq") in edges
    assert ("sns_topics.order-events", "sqs_queues.orders") in edges


def test_mermaid_has_every_node_and_edge():
    spec = example()
    text = to_mermaid(spec)
    assert text.startswith("graph LR\n")
    ids = dict(re.findall(r'^  (n\d+)\["([^<"]+)<br/>', text, re.M))
    assert sorted(ids.values()) == sorted(spec.nodes)
    for node_id, address in ids.items():
        assert f'{node_id}["{address}<br/>{spec.nodes[address].physical_name}"]' in text
    edges = {(ids[a], ids[b]) for a, b in re.findall(r"^  (n\d+) --> (n\d+)$", text, re.M)}
    assert edges == {(n.address, dep) for n in spec.nodes.values() for dep in n.deps}
    assert ("dynamodb_tables.orders", "kms_keys.data") in edges


def test_graph_command_prints_mermaid():
    result = CliRunner().invoke(cli, ["graph", str(EXAMPLE), "--format", "mermaid"])
    assert result.exit_code == 0, result.output
    assert result.output == to_mermaid(example())
    assert "sqs_queues.orders-dlq<br/>shop-dev-orders-dlq" in result.output


def test_graph_command_dot_with_environment():
    result = CliRunner().invoke(cli, ["graph", str(EXAMPLE), "--environment", "pr-9"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("digraph provisioner {")
    assert '"kms_keys.data" [label="kms_keys.data\\nshop-pr-9-data"];' in result.output
