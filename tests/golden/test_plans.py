"""Golden plans: what `plan --detail -v` prints for each spec of specs/ on an empty account (every
create with every field and every API call it makes), kept in tests/golden/*.plan. A change to what
the tool would deploy shows up here as a reviewable diff. Regenerate with `make golden`."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioner.engine.executor import operations_of
from provisioner.render import Style, plan_text

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("specs/examples/*.yaml")])
HERE = Path(__file__).parent


def golden_path(spec: Path) -> Path:
    return HERE / (spec.relative_to(ROOT / "specs").with_suffix(".plan").as_posix().replace("/", "--"))


@pytest.mark.parametrize("spec", SPECS, ids=[s.stem for s in SPECS])
def test_plan_matches_its_golden_file(spec, aws, engine):
    eng = engine(spec)
    plan = eng.plan()
    ctx = eng.last_ctx
    text = plan_text(plan, Style(False), detail=True, operations_of=lambda change: operations_of(change, ctx)) + "\n"
    golden = golden_path(spec)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"no {golden.name}: run `make golden`"
    assert text == golden.read_text(), f"{spec.name}'s plan differs from {golden.name}: review, then `make golden`"


def test_every_golden_file_has_its_spec():
    assert sorted(p.name for p in HERE.glob("*.plan")) == sorted(golden_path(s).name for s in SPECS)
