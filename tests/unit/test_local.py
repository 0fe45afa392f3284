"""The embedded emulator's commands: one emulator per project folder, announced when it starts."""
from __future__ import annotations

import re

import pytest

from provisioner import local
from tests.unit.test_cli import run


@pytest.fixture
def checkouts(tmp_path, monkeypatch):
    """Two checkouts of one user (one state folder), each with a subfolder; emulators stopped at the end."""
    folders = {}
    for name in ("a", "b"):
        (tmp_path / name / ".git").mkdir(parents=True)
        (tmp_path / name / "specs").mkdir()
        folders[name] = tmp_path / name
    yield folders
    for folder in folders.values():
        monkeypatch.chdir(folder)
        local.stop()


def test_each_checkout_has_its_own_emulator_and_never_stops_another(checkouts, monkeypatch, capsys):
    monkeypatch.chdir(checkouts["a"])
    code, out, err = run(capsys, "local", "start")
    assert code == 0, err
    endpoint = re.search(r"http://127\.0\.0\.1:\d+", out).group(0)
    assert f"started the embedded AWS emulator for {checkouts['a']} at {endpoint}" in err
    assert "provisioner local stop" in err
    pid = local.status()["pid"]

    monkeypatch.chdir(checkouts["a"] / "specs")   # the same checkout, from a subfolder
    code, out, _ = run(capsys, "local", "status")
    assert code == 0 and out.strip() == f"running: {endpoint} (pid {pid}) for {checkouts['a']}"

    monkeypatch.chdir(checkouts["b"])   # another checkout sees nothing, and stops nothing
    code, out, _ = run(capsys, "local", "status")
    assert code == 1 and out.strip() == f"not running for {checkouts['b']}"
    code, out, _ = run(capsys, "local", "stop")
    assert out.strip() == "not running"
    assert local._pid_alive(pid)

    monkeypatch.chdir(checkouts["a"])
    code, out, _ = run(capsys, "local", "start")   # already running: not started again, not announced
    assert out.strip() == f"running: {endpoint}"
    assert "started" not in capsys.readouterr().err
    code, out, _ = run(capsys, "local", "stop")
    assert out.strip() == "stopped"
    assert run(capsys, "local", "status")[0] == 1


def test_a_folder_without_git_is_its_own_project_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert local.project_folder() == tmp_path.resolve()
    (tmp_path / "deep").mkdir()
    monkeypatch.chdir(tmp_path / "deep")
    assert local.project_folder() == (tmp_path / "deep").resolve()
