"""README's promises a reader acts on: its first screen, and a spec reference whose examples validate."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from provisioner.spec.model import SPEC_KEYS
from provisioner.spec.schema import load_schema
from tests.cli import run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
HEADER = "version: 1\nproject: readme\nenvironment: dev\n"


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


REFERENCE_BLOCKS = re.findall(r"```yaml\n(.*?)```", _section("Spec reference"), re.S)


def test_the_first_screen_gives_make_demo_and_make_test_first():
    first_block = README.split("```")[1]
    commands = [line.split()[:2] for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == [["make", "demo"], ["make", "test"]]


def test_the_spec_reference_has_an_example_for_every_kind_of_the_schema():
    kinds = set(load_schema()["properties"]) - set(SPEC_KEYS)
    shown = {kind for block in REFERENCE_BLOCKS for kind in yaml.safe_load(block)}
    assert kinds <= shown, f"no example for {sorted(kinds - shown)}"
    alarms = "".join(block for block in REFERENCE_BLOCKS if "\nalarms:" in f"\n{block}")
    for form in ("error_rate:", "dlq_depth:", "throttles:", "duration_p99:", "metric:"):
        assert form in alarms, form
    assert any(block.startswith("iam_roles:") or "\niam_roles:" in block for block in REFERENCE_BLOCKS)


@pytest.mark.parametrize("block", REFERENCE_BLOCKS, ids=lambda block: block.split(":", 1)[0])
def test_every_example_of_the_spec_reference_validates_without_warnings(block, tmp_path, capsys):
    (tmp_path / "lambda_code").symlink_to(ROOT / "lambda_code")   # code: folders as in this repository
    spec = tmp_path / "example.yaml"
    spec.write_text(block if "project:" in block else HEADER + block)
    code, out, err = run(capsys, "validate", str(spec))
    assert code == 0, err
    assert "valid" in out and err == "", err
