"""Dependencies between modules go one way: policy linting does not depend on the reconcilers that use it."""
from __future__ import annotations

import subprocess
import sys


def test_lint_imports_no_reconciler():
    code = ("import sys, provisioner.policy.lint; "
            "print(sorted(m for m in sys.modules if m.startswith('provisioner.services')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def imported_by(module: str, prefix: str) -> list:
    code = (f"import sys, {module}; "
            f"print(sorted(m for m in sys.modules if m.startswith('{prefix}')))")
    return eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def test_the_layers_import_downwards_only():
    """cli -> engine -> services -> (policy, spec, aws): nothing below imports what is above it."""
    for low in ("provisioner.aws.session", "provisioner.aws.retries", "provisioner.policy.grants",
                "provisioner.spec.refs", "provisioner.engine.operations"):
        assert imported_by(low, "provisioner.services") == [], low
        assert imported_by(low, "provisioner.cli") == [], low
    for service in ("provisioner.services.sqs", "provisioner.services.base"):
        assert [m for m in imported_by(service, "provisioner.engine")
                if m not in ("provisioner.engine", "provisioner.engine.operations", "provisioner.engine.ownership",
                         "provisioner.engine.diff")] \
            == [], service
    assert "provisioner.cli" not in imported_by("provisioner.engine.deployer", "provisioner.cli")
