"""Runtimes beyond Python on moto: botocore's Runtime enum in the schema, deprecation warnings, Node.js and
custom-runtime folders packaged as they are, runtime drift."""
from __future__ import annotations

import datetime
import io
import zipfile

import pytest

from provisioner.errors import SpecError
from provisioner.services import default_registry
from provisioner.spec.model import load_spec
from provisioner.spec.runtimes import DEPRECATION, botocore_runtimes, deprecation_warning
from provisioner.spec.schema import load_schema
from tests.reconcilers.helpers import assert_diff, assert_repaired, only_change, run_quartet, write_code

SPEC = """
version: 1
project: shop
environment: dev
lambda_functions:
  web:
    code: node
    runtime: nodejs22.x
    handler: index.handler
  native:
    code: native
    runtime: provided.al2023
    architecture: arm64
    handler: bootstrap
"""


@pytest.fixture
def spec_path(write_spec, tmp_path):
    write_code(tmp_path, {"index.mjs": "export const handler = async () => ({statusCode: 200});\n",
                          "requirements.txt": "not-a-python-package==1\n", "package.json": "{}\n"}, folder="node")
    native = write_code(tmp_path, {"bootstrap": "#!/bin/sh\necho hi\n"}, folder="native")
    (native / "bootstrap").chmod(0o755)
    return write_spec(SPEC)


def test_the_schema_lists_botocores_runtime_enum():
    schema = load_schema()["$defs"]["lambda_runtime"]
    assert schema["enum"] == botocore_runtimes(), "update $defs.lambda_runtime.enum from botocore's Runtime shape"
    assert set(DEPRECATION) <= set(schema["enum"])


def test_node_and_custom_runtime_functions_converge_and_runtime_drift_is_caught(spec_path, engine, aws):
    run_quartet(engine(spec_path))
    client = aws("lambda")
    web = client.get_function(FunctionName="shop-dev-web")["Configuration"]
    assert (web["Runtime"], web["Handler"]) == ("nodejs22.x", "index.handler")
    assert client.get_function(FunctionName="shop-dev-native")["Configuration"]["Runtime"] == "provided.al2023"
    client.update_function_configuration(FunctionName="shop-dev-web", Runtime="nodejs20.x")
    e = engine(spec_path)
    assert_diff(only_change(e.plan(), "lambda_functions.web"), "runtime", "nodejs20.x", "nodejs22.x")
    assert_repaired(e)


def test_non_python_folders_are_packaged_as_they_are(spec_path):
    """No pip for a requirements.txt outside Python, no python/ prefix, the executable bit kept."""
    spec = load_spec(str(spec_path), default_registry())
    functions = default_registry()["lambda_functions"]
    web = zipfile.ZipFile(io.BytesIO(functions.package(spec.nodes["lambda_functions.web"], spec).zip_bytes))
    assert web.namelist() == ["index.mjs", "package.json", "requirements.txt"]
    native = zipfile.ZipFile(io.BytesIO(functions.package(spec.nodes["lambda_functions.native"], spec).zip_bytes))
    assert native.getinfo("bootstrap").external_attr >> 16 == 0o755


def test_a_deprecated_runtime_is_a_warning_with_its_date(spec_path, write_spec):
    spec = load_spec(str(write_spec(SPEC.replace("nodejs22.x", "nodejs18.x"))), default_registry())
    assert [(w.path, w.message) for w in spec.warnings] == [(
        "lambda_functions.web.runtime",
        "runtime nodejs18.x was deprecated by AWS on 2025-09-01: it gets no security patches, and AWS blocks "
        "creating and then updating functions on it some months later; move to a supported runtime")]
    assert deprecation_warning("python3.9", datetime.date(2025, 12, 14)) is None
    assert "2025-12-15" in deprecation_warning("python3.9", datetime.date(2025, 12, 15))
    assert deprecation_warning("python3.14") is None


def test_a_node_handler_needs_its_file(spec_path, write_spec):
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(SPEC.replace("index.handler", "main.handler"))), default_registry())
    assert "handler 'main.handler': none of main.js, main.mjs, main.cjs found" in str(raised.value)


def test_an_unknown_runtime_is_rejected(write_spec, spec_path):
    with pytest.raises(SpecError) as raised:
        load_spec(str(write_spec(SPEC.replace("nodejs22.x", "nodejs99.x"))), default_registry())
    assert "'nodejs99.x' is not one of" in str(raised.value)
