"""A plan's reads take the kinds in turn, so the reads in flight spread over the services' endpoints."""
from __future__ import annotations

from types import SimpleNamespace

from provisioner.engine.plan import interleaved_by_kind


def test_kinds_are_taken_in_turn_and_every_node_read_once():
    nodes = [SimpleNamespace(kind=kind, address=f"{kind}.{i}")
             for kind, count in (("sqs_queues", 3), ("dynamodb_tables", 1), ("lambda_functions", 2))
             for i in range(count)]
    order = [n.address for n in interleaved_by_kind(nodes)]
    assert order == ["sqs_queues.0", "dynamodb_tables.0", "lambda_functions.0",
                     "sqs_queues.1", "lambda_functions.1", "sqs_queues.2"]
    assert interleaved_by_kind([]) == []
