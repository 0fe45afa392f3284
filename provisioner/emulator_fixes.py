"""Corrections to the emulator (moto) where it answers differently from AWS for what the tool does.

moto checks a bucket's policy on every object call (Head/Get/Put/DeleteObject) but evaluates no condition:
a statement with a Condition always applies. The TLS-only statement every bucket gets (Deny s3:* when
aws:SecureTransport is false) therefore denies every object call, which AWS never does to the tool: it
only ever calls AWS over HTTPS. With this fix the emulator treats each request as made over TLS, as the
tool's requests to AWS are: a statement that applies only when aws:SecureTransport is false is left out of
the evaluation (the policy itself is stored and returned unchanged), so it denies nothing, as on AWS, and
an artifacts bucket can take Lambda packages. Every other statement is evaluated as moto does.

`python -m provisioner.emulator_fixes ARGS` runs moto's server with the fixes (the embedded emulator);
apply() fixes an in-process moto (mock_aws) too.
"""
from __future__ import annotations

import json
import sys


def _applies_over_tls(statement: dict) -> bool:
    """False for a statement conditioned on aws:SecureTransport being false (it never applies over TLS)."""
    condition = statement.get("Condition") or {}
    insecure = [str(v).lower() for v in _as_list((condition.get("Bool") or {}).get("aws:SecureTransport"))]
    return insecure != ["false"]


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def apply() -> None:
    """Patch the moto of this process (idempotent)."""
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.get_permission, "over_tls", False):
        return

    def get_permission(self, action: str, resource: str):
        from moto.iam.access_control import IAMPolicy, PermissionResult
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode())
        statements = [s for s in _as_list(policy.get("Statement")) if _applies_over_tls(s)]
        if not statements:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**policy, "Statement": statements})).is_action_permitted(action, resource)

    get_permission.over_tls = True
    FakeBucket.get_permission = get_permission


def main() -> None:
    apply()
    from moto.server import main as server_main
    sys.argv[0] = "moto_server"
    server_main(sys.argv[1:])


if __name__ == "__main__":
    main()
