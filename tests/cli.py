"""The CLI's entry point run in-process, as a shell runs it: exit code and what it printed."""
from __future__ import annotations

from provisioner.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exited:
        code = exited.code
    out, err = capsys.readouterr()
    return code, out, err
