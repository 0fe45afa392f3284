"""Dependencies between modules go one way: policy linting does not depend on the reconcilers that use it."""
from __future__ import annotations

import subprocess
import sys


def test_lint_imports_no_reconciler():
    code = ("import sys, provisioner.policy.lint; "
            "print(sorted(m for m in sys.modules if m.startswith('provisioner.services')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
