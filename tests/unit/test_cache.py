"""The disk cache stays bounded: pruned when written, shown by `cache info`, emptied by `cache clean`."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from provisioner import cache
from tests.cli import run

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("PROVISIONER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PROVISIONER_CACHE_MAX_MB", raising=False)
    return tmp_path / "cache"


def _entry(path: Path, size: int = 10, age_days: float = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    then = time.time() - age_days * DAY
    os.utime(path, (then, then))
    return path


def test_a_write_prunes_entries_older_than_30_days_once_a_day(root):
    old = [_entry(root / "lint" / "old.json", age_days=31), _entry(root / "botocore" / "1.0.0" / "model", age_days=40)]
    recent = _entry(root / "accounts" / "recent", age_days=29)
    cache.write_whole(root / "lint" / "new.json", b"[]")
    assert not any(path.exists() for path in old)
    assert not (root / "botocore" / "1.0.0").exists()   # a botocore version nothing uses any more
    assert recent.exists() and (root / "lint" / "new.json").exists()

    later = _entry(root / "lint" / "later.json", age_days=31)
    cache.write_whole(root / "lint" / "other.json", b"[]")
    assert later.exists()   # pruned today already


def test_the_oldest_entries_go_beyond_the_size_cap(root, monkeypatch):
    monkeypatch.setenv("PROVISIONER_CACHE_MAX_MB", str(2500 / 1024 / 1024))   # 2,500 bytes
    oldest, older, newer = (_entry(root / "packages" / name / "lib.py", size=1000, age_days=age)
                            for name, age in (("a", 3), ("b", 2), ("c", 1)))
    for entry in (oldest, older, newer):   # a package folder's age is its folder's
        os.utime(entry.parent, (entry.stat().st_mtime,) * 2)
    cache.write_whole(root / "accounts" / "key", b"123456789012")
    assert not oldest.parent.exists()
    assert older.exists() and newer.exists()


def test_a_run_that_writes_the_cache_prunes_it(root, capsys):
    stale = _entry(root / "lint" / "stale.json", age_days=60)
    code, out, _ = run(capsys, "validate", str(ROOT / "specs" / "example.yaml"))   # lints policies, caching parliament
    assert code == 0, out
    assert any((root / "lint").iterdir()) and not stale.exists()


def test_cache_info_shows_where_it_is_and_what_each_part_holds(root, capsys):
    _entry(root / "lint" / "a.json", size=2 * 1024 * 1024)
    _entry(root / "packages" / "k" / "lib.py", size=1024 * 1024)
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{root}: 3.0 MB (at most 1024.0 MB;")
    assert [line.split()[:3] for line in lines[1:]] == [
        ["botocore/", "0.0", "MB"], ["accounts/", "0.0", "MB"], ["lint/", "2.0", "MB"], ["packages/", "1.0", "MB"]]
    assert "1 entries  parliament's findings" in out


def test_cache_clean_empties_it_but_not_the_emulators_state(root, capsys):
    _entry(root / "lint" / "a.json", size=1024 * 1024)
    _entry(root / "botocore" / "1.2.3" / "model", size=1024 * 1024)
    emulator = _entry(root / "local" / "0123.json")
    code, out, _ = run(capsys, "cache", "clean")
    assert code == 0 and out == f"removed 2.0 MB from {root}\n"
    assert sorted(p.name for p in root.iterdir()) == ["local"] and emulator.exists()
