"""Every file in tests/fixtures/invalid is rejected with the right file:line, path and message.

Each fixture starts with a comment line

    # expect: <line> <path> <substring of the message>

(the path is empty for file-level errors: "# expect: 1  spec is empty"). `apply` runs as a real
subprocess of the installed CLI against a closed port (127.0.0.1:9): if the tool made any AWS call
before rejecting the spec, the output would be a connection error instead of the diagnostic.
"""
from __future__ import annotations

import concurrent.futures
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "invalid"
FILES = sorted(FIXTURES.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+) (\S*) (.+)$")
CLOSED_ENDPOINT = "http://127.0.0.1:9"


def expectation(path: Path) -> tuple[int, str, str]:
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii").rstrip("\r")
    match = EXPECT.match(first)
    assert match, f"{path.name}: first line must be '# expect: <line> <path> <message>', got {first!r}"
    return int(match.group(1)), match.group(2), match.group(3)


def diagnostic_line(stderr: str, file: str, line: int, path: str, message: str) -> str | None:
    """The stderr line `file:line: path: ...message...`, or None."""
    prefix = f"{file}:{line}: " + (f"{path}: " if path else "")
    for text in stderr.splitlines():
        if text.startswith(prefix) and message in text[len(prefix):]:
            return text
    return None


def _env(state_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k != "PROVISIONER_ENVIRONMENT"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", PROVISIONER_STATE_DIR=str(state_dir), NO_COLOR="1")
    return env


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    """`provisioner apply FILE --yes --endpoint-url <closed port>` for every fixture, run in parallel."""
    work = tmp_path_factory.mktemp("invalid-apply")
    env = _env(work / "state")

    def run(path: Path):
        command = [sys.executable, "-m", "provisioner", "apply", str(path), "--yes",
                   "--endpoint-url", CLOSED_ENDPOINT]
        return path, subprocess.run(command, capture_output=True, text=True, env=env, cwd=work, timeout=120)

    workers = max(2, min(8, (os.cpu_count() or 2) * 2))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(run, FILES))


def test_there_are_enough_distinct_fixtures():
    assert len(FILES) >= 20
    expectations = [expectation(f) for f in FILES]
    assert len({(p, m) for _, p, m in expectations}) == len(FILES), "two fixtures expect the same diagnostic"
    not_utf8 = []
    for path in FILES:
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            not_utf8.append(path.name)
    assert not_utf8, "one fixture must not be valid UTF-8"


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_apply_rejects_spec_before_any_aws_call(path, applied):
    line, field_path, message = expectation(path)
    result = applied[path]
    stderr = result.stderr
    assert result.returncode == 1, (result.returncode, stderr)
    assert "Traceback" not in stderr
    assert "Internal error" not in stderr
    # a connection error ("Could not connect to the endpoint URL") would mean an AWS call was made;
    # "endpoint" may only appear inside a diagnostic (e.g. the subscription field "endpoint")
    assert "Could not connect" not in stderr and CLOSED_ENDPOINT not in stderr, stderr
    assert not [t for t in stderr.splitlines() if "endpoint" in t.lower() and not t.startswith(f"{path}:")], stderr
    assert diagnostic_line(stderr, str(path), line, field_path, message), (
        f"expected a line '{path}:{line}: {field_path + ': ' if field_path else ''}...{message}...' in:\n{stderr}")
    assert "nothing was sent to AWS" in stderr
    assert result.stdout == "", "no plan may be printed for an invalid spec"


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_validate_reports_the_same_diagnostic(path, capsys):
    line, field_path, message = expectation(path)
    with pytest.raises(SystemExit) as exited:
        main(["validate", str(path)])
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert "valid (" not in out
    assert diagnostic_line(err, str(path), line, field_path, message), err
