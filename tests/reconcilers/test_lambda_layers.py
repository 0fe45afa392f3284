"""Lambda layers on moto: packaged under python/, published on change, used by functions, owned by a marker."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from provisioner.errors import OwnershipConflict, SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from tests.reconcilers.helpers import pending_diffs, run_quartet, write_code

SPEC = """
version: 1
project: shop
environment: dev
lambda_layers:
  common:
    code: layer
    description: Shared helpers
lambda_functions:
  worker:
    code: code
    handler: app.handler
    layers: [common]
"""
LAYER = "shop-dev-common"


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"app.py": "from helpers import greet\n\n\ndef handler(event, context):\n    return greet()\n"})
    write_code(tmp_path, {"helpers.py": "def greet():\n    return 'hi'\n"}, folder="layer")
    return write_spec(SPEC)


def _versions(aws):
    return aws("lambda").list_layer_versions(LayerName=LAYER)["LayerVersions"]


def test_layer_is_published_under_python_and_used_by_the_function(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    version, = _versions(aws)
    assert version["Description"] == "Shared helpers [provisioner shop/dev lambda_layers.common]"
    assert version["CompatibleRuntimes"] == ["python3.12"]
    config = aws("lambda").get_function_configuration(FunctionName="shop-dev-worker")
    assert [layer["Arn"] for layer in config["Layers"]] == [version["LayerVersionArn"]]
    spec = load_spec(str(spec_path), default_registry())
    package = default_registry()["lambda_layers"].package(spec.nodes["lambda_layers.common"], spec)
    assert zipfile.ZipFile(io.BytesIO(package.zip_bytes)).namelist() == ["python/helpers.py"]


def test_changed_layer_code_publishes_a_version_and_moves_the_function_to_it(spec_path, engine, aws, tmp_path):
    e = engine(spec_path)
    e.apply()
    (tmp_path / "layer" / "helpers.py").write_text("def greet():\n    return 'hello'\n")
    plan = e.plan()
    assert "code_sha256" in pending_diffs(plan, "lambda_layers.common")
    e.apply()
    newest = max(_versions(aws), key=lambda v: v["Version"])
    assert newest["Version"] == 2
    config = aws("lambda").get_function_configuration(FunctionName="shop-dev-worker")
    assert [layer["Arn"] for layer in config["Layers"]] == [newest["LayerVersionArn"]]
    assert not e.plan().has_changes


def test_destroy_deletes_every_version_and_foreign_layers_are_not_adopted(spec_path, engine, aws):
    e = engine(spec_path)
    e.apply()
    e.destroy()
    assert _versions(aws) == []
    aws("lambda").publish_layer_version(LayerName=LAYER, Content={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
                                        Description="someone else's")
    with pytest.raises(OwnershipConflict):
        engine(spec_path).plan()


def test_layer_for_another_runtime_is_rejected(spec_path, write_spec):
    text = SPEC.replace("    description: Shared helpers\n", "    description: Shared helpers\n    runtimes: [python3.11]\n")
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(text)), default_registry())
    assert "layer common supports python3.11, not python3.12" in str(raised.value)


EXTERNAL = SPEC.replace("    layers: [common]\n", "    layers: [common, '${external}']\n")


def _external_layer(aws) -> str:
    """A layer published outside the spec (an extension of this account; moto only knows its own layers)."""
    return aws("lambda").publish_layer_version(LayerName="extension", Content={"ZipFile": b"PK\x05\x06" + b"\0" * 18},
                                               CompatibleRuntimes=["python3.12"])["LayerVersionArn"]


def test_a_layer_from_outside_the_spec_is_used_by_its_arn_and_its_removal_is_drift(write_spec, spec_path, engine,
                                                                                    aws):
    external = _external_layer(aws)
    path = write_spec(EXTERNAL.replace("'${external}'", external))
    run_quartet(engine(path))
    client = aws("lambda")
    layers = [layer["Arn"] for layer in client.get_function_configuration(FunctionName="shop-dev-worker")["Layers"]]
    assert layers == [_versions(aws)[0]["LayerVersionArn"], external]
    client.update_function_configuration(FunctionName="shop-dev-worker", Layers=layers[:1])
    e = engine(path)
    assert pending_diffs(e.plan(), "lambda_functions.worker")["layers"] == (layers[:1], layers)
    e.apply()
    assert not e.plan().has_changes
    e.destroy()
    assert aws("lambda").list_layer_versions(LayerName="extension")["LayerVersions"], "not ours: left alone"


def test_a_layer_arn_of_another_region_or_malformed_is_rejected(write_spec, spec_path):
    other = "arn:aws:lambda:eu-west-1:580247275435:layer:LambdaInsightsExtension:49"
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(EXTERNAL.replace("'${external}'", other))), default_registry())
    assert f"layer {other} is in eu-west-1; a function can only use layers of its own region (us-east-1)" \
        in str(raised.value)
    with pytest.raises(SpecError):
        load_spec(str(write_spec(EXTERNAL.replace("'${external}'", "arn:aws:lambda:us-east-1:1:layer:x"))),
                  default_registry())


def test_a_layer_shared_with_other_accounts_gets_layer_version_permissions(write_spec, spec_path, engine, aws):
    path = write_spec(SPEC.replace("    description: Shared helpers\n",
                                   "    description: Shared helpers\n    share_with: ['111122223333']\n"))
    run_quartet(engine(path))
    client = aws("lambda")
    policy = json.loads(client.get_layer_version_policy(LayerName=LAYER, VersionNumber=1)["Policy"])
    assert [(s["Sid"], s["Action"], s["Principal"]) for s in policy["Statement"]] == [
        ("share-111122223333", "lambda:GetLayerVersion", "111122223333")]
    client.remove_layer_version_permission(LayerName=LAYER, VersionNumber=1, StatementId="share-111122223333")
    e = engine(path)
    assert pending_diffs(e.plan(), "lambda_layers.common")["share_with"] == ([], ["111122223333"])
    e.apply()
    assert not e.plan().has_changes
    assert [v["Version"] for v in _versions(aws)] == [1]   # permissions change in place: no new version
