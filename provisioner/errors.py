"""Exit codes and the exceptions that map onto them (one place: cli.main)."""
from __future__ import annotations

import enum
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    OK = 0             # success; for diff/plan: AWS matches the spec
    ERROR = 1          # invalid spec, AWS error, refused operation
    CHANGES = 2        # diff/plan: changes pending (drift or work to do)
    INTERRUPTED = 130  # stopped by the user (Ctrl-C)


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a spec, located by file, line and path."""

    file: str
    line: int | None
    path: str
    message: str
    severity: str = "error"   # "error" or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}: {prefix}{self.path + ': ' if self.path else ''}{self.message}"


class ProvisionerError(Exception):
    """Base for errors the CLI reports as one line, without a traceback."""

    exit_code = ExitCode.ERROR
    hint: str | None = None


class SpecError(ProvisionerError):
    """The spec is invalid; carries every diagnostic found, not just the first."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = [d for d in diagnostics if d.severity == "error"]
        self.warnings = [d for d in diagnostics if d.severity == "warning"]
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class AwsCallError(ProvisionerError):
    """An AWS call failed while working on a resource."""

    def __init__(self, address: str, action: str, operation: str, code: str, message: str):
        self.address, self.action, self.operation = address, action, operation
        self.code, self.aws_message = code, message
        super().__init__(f"Failed to {action} {address} ({operation}): {code}: {message}")


class NotEmulated(ProvisionerError):
    """The endpoint does not implement this API (an emulator's 404/500 page, not an AWS error)."""

    def __init__(self, operation: str):
        self.operation = operation
        super().__init__(f"{operation} is not implemented by this endpoint")


class OwnershipConflict(ProvisionerError):
    """A resource with the name we want exists but is not owned by this project/environment."""


class Interrupted(ProvisionerError):
    """The run was stopped (Ctrl-C, SIGTERM) before all its work was done; what was not started is
    reported before this is raised."""

    exit_code = ExitCode.INTERRUPTED


class RefusedError(ProvisionerError):
    """An operation the tool refuses without an explicit flag (data loss, protection)."""
