"""What a user sees on a terminal: colour only there, and never with NO_COLOR or --no-color."""
from __future__ import annotations

import os
import pty
import select
import subprocess

import pytest

from tests.e2e.conftest import CLI, ROOT

ESC = "\x1b["
# two queues to create (green on stdout) and a warning about the DLQ's retention (yellow on stderr)
SPEC = """\
version: 1
project: colours
environment: dev
sqs_queues:
  dlq: {retention_seconds: 60}
  work: {retention_seconds: 86400, dead_letter: {queue: dlq}}
"""


def _run_on_terminals(argv, env, stdout_tty=True, stderr_tty=True) -> tuple[int, str, str]:
    """Run argv with stdout and stderr on pseudo-terminals (or pipes); (exit code, stdout, stderr)."""
    masters, slaves = {}, {}
    for name, tty in (("out", stdout_tty), ("err", stderr_tty)):
        masters[name], slaves[name] = pty.openpty() if tty else os.pipe()
    process = subprocess.Popen(argv, stdout=slaves["out"], stderr=slaves["err"], stdin=subprocess.DEVNULL,
                               env=env, cwd=ROOT)
    for fd in slaves.values():
        os.close(fd)
    chunks = {name: b"" for name in masters}
    open_fds = {fd: name for name, fd in masters.items()}
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [], 60)
        assert ready, "no output for 60 s"
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:   # a pty whose other end is closed
                data = b""
            if data:
                chunks[open_fds[fd]] += data
            else:
                os.close(fd)
                del open_fds[fd]
    code = process.wait(timeout=60)
    return code, chunks["out"].decode(), chunks["err"].decode()


@pytest.fixture
def diff_on_terminals(endpoint, tmp_path):
    spec = tmp_path / "colours.yaml"
    spec.write_text(SPEC)
    base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    base.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                PROVISIONER_STATE_DIR=str(tmp_path / "state"))

    def run(*flags, env=None, **ttys):
        return _run_on_terminals([CLI, "diff", str(spec), "--endpoint-url", endpoint, *flags],
                                 {**base, **(env or {})}, **ttys)
    return run


def _colours(out: str, err: str) -> tuple[bool, bool]:
    assert "+ sqs_queues.dlq" in out and "warning:" in err, (out, err)
    create = next(line for line in out.splitlines() if "+ sqs_queues.dlq" in line)
    warning = next(line for line in err.splitlines() if "warning:" in line)
    if ESC in out:
        assert create.startswith(f"{ESC}32m")       # a create is green
    if ESC in err:
        assert warning.startswith(f"{ESC}33m")      # a warning is yellow
    return ESC in out, ESC in err


@pytest.mark.parametrize("flags, env, ttys, colour", [
    ((), {}, {}, (True, True)),
    ((), {"NO_COLOR": ""}, {}, (True, True)),           # no-color.org: set and empty is not set
    ((), {"NO_COLOR": "1"}, {}, (False, False)),
    ((), {"NO_COLOR": "yes please"}, {}, (False, False)),
    (("--no-color",), {}, {}, (False, False)),
    ((), {}, {"stdout_tty": False}, (False, True)),     # each stream decides for itself
    ((), {}, {"stderr_tty": False}, (True, False)),
], ids=["terminals", "NO_COLOR-empty", "NO_COLOR=1", "NO_COLOR=any", "--no-color", "stdout-piped",
        "stderr-piped"])
def test_colour_only_on_a_terminal_and_never_with_no_color_or_the_flag(diff_on_terminals, flags, env, ttys,
                                                                       colour):
    code, out, err = diff_on_terminals(*flags, env=env, **ttys)
    assert code == 2, (out, err)
    assert _colours(out, err) == colour
