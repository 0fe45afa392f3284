"""One small spec per failure class of the seed documents (tests/fixtures/seed_failures): each mistake
is rejected by `validate` (or, where it is a judgment call, warned about) with file:line and path.

Each fixture starts with two comment lines:

    # expect: <error|warning> <line> <path> <substring of the message>
    # seed: <document> <section>: <the failure, in the document's words>

Failures that the spec language cannot express at all (a wrong property name, a hand-built
integration URI, a multi-line access-log format) have no fixture: README.md lists them.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli import run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "seed_failures"
FILES = sorted(FIXTURES.glob("**/*.yaml"))
EXPECT = re.compile(r"^# expect: (error|warning) (\d+) (\S*) (.+)$")
SEED = re.compile(r"^# seed: (\S+) (.+)$")


def expectation(path: Path):
    first, second = path.read_text().splitlines()[:2]
    match, seed = EXPECT.match(first), SEED.match(second)
    assert match and seed, f"{path.name}: needs '# expect: ...' and '# seed: ...' header lines"
    return match.group(1), int(match.group(2)), match.group(3), match.group(4)


def test_there_is_a_fixture_per_seed_document_covered():
    seeds = {SEED.match(p.read_text().splitlines()[1]).group(1)[:3] for p in FILES}
    assert "000" in seeds, seeds


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_seed_failure_is_caught_by_validate(path, capsys):
    severity, line, field, message = expectation(path)
    code, out, err = run(capsys, "validate", str(path))
    prefix = f"{path}:{line}: " + ("warning: " if severity == "warning" else "") + (f"{field}: " if field else "")
    matching = [text for text in err.splitlines() if text.startswith(prefix) and message in text]
    assert matching, f"expected a line starting {prefix!r} containing {message!r} in:\n{err}"
    assert code == (1 if severity == "error" else 0), (code, out, err)
