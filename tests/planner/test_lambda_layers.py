"""Lambda layers: the calls of a create, of each update and of a delete, on fake state. A layer carries no
tags (its ownership marker is part of each version's description), so no tag update is shown."""
import pytest
from botocore.stub import Stubber

from provisioner.engine.operations import Pending
from provisioner.services.base import OwnedResource
from tests.planner.conftest import shown

SPEC = """
version: 1
project: shop
environment: dev
lambda_layers:
  common:
    code: layer
    description: Shared helpers
    share_with: ['111122223333']
"""
NAME = "shop-dev-common"
ADDRESS = "lambda_layers.common"
VERSION_ARN = f"arn:aws:lambda:us-east-1:123456789012:layer:{NAME}:3"
OUTPUTS = {"arn": VERSION_ARN, "layer_arn": VERSION_ARN.rsplit(":", 1)[0], "name": NAME, "version": 3}


@pytest.fixture
def state(fake_state, tmp_path):
    (tmp_path / "layer").mkdir()
    (tmp_path / "layer" / "helpers.py").write_text("def greet():\n    return 'hi'\n")
    return fake_state(SPEC)


def answered(operations) -> list:
    """shown(), with a value only AWS gives written as where it comes from; None where the listing stops
    (the outputs are made of the published version's ARN)."""
    return [None if operation is None else
            (str(operation), {k: str(v) if isinstance(v, Pending) else v for k, v in operation.params.items()})
            for operation in operations]


def share(account, version):
    return ("lambda:AddLayerVersionPermission", {"LayerName": NAME, "VersionNumber": version,
                                                 "StatementId": f"share-{account}", "Action": "lambda:GetLayerVersion",
                                                 "Principal": account})


def publish(state):
    return ("lambda:PublishLayerVersion", {
        "LayerName": NAME, "Content": {"ZipFile": state.desired(ADDRESS)["_package"].zip_bytes},
        "Description": "Shared helpers [provisioner shop/dev lambda_layers.common]",
        "CompatibleRuntimes": ["python3.12"], "CompatibleArchitectures": ["x86_64"]})


def test_create_publishes_a_version_marked_as_ours_and_shares_it(state):
    assert answered(state.creates(ADDRESS)) == [publish(state), share("111122223333", "(from PublishLayerVersion)"), None]


def test_a_description_change_publishes_a_new_version(state):
    actual = {**state.desired(ADDRESS), "description": "Old helpers"}
    assert answered(state.updates(ADDRESS, actual, OUTPUTS)) == [
        publish(state), share("111122223333", "(from PublishLayerVersion)"), None]


def test_a_sharing_change_is_made_on_the_newest_version_in_place(state):
    actual = {**state.desired(ADDRESS), "share_with": ["444455556666"]}
    assert shown(state.updates(ADDRESS, actual, OUTPUTS)) == [
        ("lambda:RemoveLayerVersionPermission", {"LayerName": NAME, "VersionNumber": 3,
                                                 "StatementId": "share-444455556666"}),
        share("111122223333", 3)]


def test_in_sync_makes_no_call(state):
    assert state.updates(ADDRESS, state.desired(ADDRESS), OUTPUTS) == []


def test_delete_removes_every_version_each_accepting_it_gone(state):
    stub = Stubber(state.ctx.client("lambda"))
    stub.add_response("list_layer_versions", {"LayerVersions": [
        {"LayerVersionArn": VERSION_ARN[:-1] + "2", "Version": 2}, {"LayerVersionArn": VERSION_ARN, "Version": 3}]},
        {"LayerName": NAME})
    with stub:
        operations = state.deletes("lambda_layers", OwnedResource("lambda_layers", ADDRESS, NAME, VERSION_ARN))
    assert shown(operations) == [("lambda:DeleteLayerVersion", {"LayerName": NAME, "VersionNumber": 2}),
                                 ("lambda:DeleteLayerVersion", {"LayerName": NAME, "VersionNumber": 3})]
    assert all(operation.missing_ok for operation in operations)
