"""Shared fixtures: the engine in-process against moto's mock_aws."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch, tmp_path):
    """No test ever reaches real AWS: dummy credentials, a fixed region, no profile."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "PROVISIONER_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PROVISIONER_STATE_DIR", str(tmp_path / "state"))


class Engine:
    """Runs plan/apply/destroy of one spec in-process through the CLI's Deployer (confirming every plan),
    and counts calls."""

    def __init__(self, spec_path: Path, environment: str | None = None, allow_data_loss: bool = False):
        from provisioner.engine.factory import Factory, Settings
        self.factory = Factory(Settings(region="us-east-1"))
        self.spec_path = str(spec_path)
        self.environment = environment
        self.allow_data_loss = allow_data_loss
        self.last_ctx = None

    def _deployer(self):
        from provisioner.engine.deployer import Deployer
        spec = self.factory.load_spec(self.spec_path, self.environment)
        return Deployer(self.factory, spec.project, spec.environment, spec, allow_data_loss=self.allow_data_loss)

    def _run(self, step):
        deployer = self._deployer()
        try:
            return step(deployer)
        finally:
            self.last_ctx = deployer.ctx

    def _context(self):
        deployer = self._deployer()
        self.last_ctx = deployer.context()
        return deployer.spec, self.last_ctx

    def plan(self):
        return self._run(lambda deployer: deployer.plan()).plan

    def apply(self):
        """Plan and apply; returns (plan, outcomes). Raises if any change failed."""
        result = self._run(lambda deployer: deployer.apply(confirm=lambda plan: True))
        failed = [o.error for o in result.outcomes if o.status != "done"]
        assert not failed, failed
        return result.plan, result.outcomes

    def destroy(self):
        result = self._run(lambda deployer: deployer.destroy(confirm=lambda plan: True))
        return result.plan, result.outcomes

    @property
    def calls(self):
        return self.last_ctx.aws.counter


@pytest.fixture
def write_spec(tmp_path):
    """write_spec(yaml_text, name='spec.yaml') -> Path, with the text dedented."""
    def write(text: str, name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path
    return write


@pytest.fixture
def engine():
    """engine(spec_path, environment=None, allow_data_loss=False) -> Engine."""
    return Engine


@pytest.fixture
def aws(monkeypatch):
    """mock_aws for the test and a boto3 client factory for out-of-band changes and assertions."""
    import boto3
    from moto import mock_aws
    from moto.iam.models import IAMBackend
    # moto's IAM backend iterates its live role dict; the executor creates and deletes roles in
    # parallel, which can make moto raise "dictionary changed size during iteration". Iterating a
    # copy fixes the emulator, not our code.
    monkeypatch.setattr(IAMBackend, "get_roles", lambda self: list(self.roles.values()))
    # the embedded emulator's corrections (provisioner.emulator_fixes): a TLS-only bucket policy lets the
    # tool's object calls through, as AWS does over HTTPS
    from provisioner.emulator_fixes import apply
    apply()
    with mock_aws():
        yield lambda service: boto3.client(service, region_name="us-east-1")
