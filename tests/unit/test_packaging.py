"""provisioner.services.lambda_packaging: deterministic zips, vendored requirements and handler checks (no AWS)."""
from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from provisioner.errors import ProvisionerError, SpecError
from provisioner.services import lambda_packaging as packaging
from provisioner.services.lambda_packaging import Package, PackagingError, build_package, check_handler


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch, tmp_path):
    """Every build really builds (no in-process hit from another test) and never touches ~/.cache."""
    packaging._packages.clear()
    monkeypatch.setenv("PROVISIONER_CACHE_DIR", str(tmp_path / "cache"))
    yield
    packaging._packages.clear()


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def rebuild(folder: Path, **kwargs) -> Package:
    """Build ignoring the in-process cache, so the zip is really produced again."""
    packaging._packages.clear()
    return build_package(folder, **kwargs)


def entries(package: Package) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(package.zip_bytes)).infolist()


def read_entry(package: Package, name: str) -> str:
    return zipfile.ZipFile(io.BytesIO(package.zip_bytes)).read(name).decode()


SOURCES = {"app.py": "def handler(event, context):\n    return 1\n", "lib/util.py": "X = 1\n", "lib/data.json": "{}"}


# --- determinism -------------------------------------------------------------------------------------------

def test_two_builds_are_byte_identical(tmp_path):
    folder = write(tmp_path / "fn", SOURCES)
    first, second = rebuild(folder), rebuild(folder)
    assert first is not second
    assert first.zip_bytes == second.zip_bytes
    assert first.sha256 == second.sha256


def test_mtimes_do_not_change_the_zip(tmp_path):
    folder = write(tmp_path / "fn", SOURCES)
    before = rebuild(folder)
    for name in SOURCES:
        os.utime(folder / name, (1_700_000_000, 1_700_000_000))
    assert rebuild(folder).zip_bytes == before.zip_bytes


def test_creation_order_and_non_executable_modes_do_not_change_the_zip(tmp_path):
    forward = write(tmp_path / "forward", SOURCES)
    backward = write(tmp_path / "backward", dict(reversed(list(SOURCES.items()))))
    (forward / "app.py").chmod(0o600)   # what a strict umask leaves
    (backward / "app.py").chmod(0o664)
    assert build_package(forward).zip_bytes == build_package(backward).zip_bytes


def test_recreating_files_in_another_order_gives_the_same_zip(tmp_path):
    folder = write(tmp_path / "fn", SOURCES)
    before = rebuild(folder)
    for name in reversed(list(SOURCES)):
        (folder / name).unlink()
    write(folder, dict(reversed(list(SOURCES.items()))))
    assert rebuild(folder).zip_bytes == before.zip_bytes


def test_one_changed_byte_changes_the_sha(tmp_path):
    folder = write(tmp_path / "fn", SOURCES)
    before = build_package(folder)
    (folder / "lib/util.py").write_text("X = 2\n")
    after = build_package(folder)
    assert after.sha256 != before.sha256
    assert read_entry(after, "lib/util.py") == "X = 2\n"


def test_sha256_is_base64_of_the_zip_digest_and_size_its_length(tmp_path):
    package = build_package(write(tmp_path / "fn", SOURCES))
    assert package.sha256 == base64.b64encode(hashlib.sha256(package.zip_bytes).digest()).decode()
    assert package.size == len(package.zip_bytes)
    assert "zip_bytes" not in repr(package)


def test_entries_are_sorted_files_with_fixed_metadata(tmp_path):
    package = build_package(write(tmp_path / "fn", {**SOURCES, "B.txt": "b", "a/z.txt": "z", "a.txt": "a"}))
    infos = entries(package)
    names = [info.filename for info in infos]
    assert names == sorted(names) == list(package.files)
    assert names == ["B.txt", "a.txt", "a/z.txt", "app.py", "lib/data.json", "lib/util.py"]
    for info in infos:
        assert not info.is_dir()
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.create_system == 3
        assert info.external_attr == 0o644 << 16


def test_executable_bit_is_kept_as_0755(tmp_path):
    folder = write(tmp_path / "fn", {**SOURCES, "bootstrap": "#!/bin/sh\n"})
    (folder / "bootstrap").chmod(0o700)
    modes = {info.filename: info.external_attr >> 16 for info in entries(build_package(folder))}
    assert modes["bootstrap"] == 0o755
    assert modes["app.py"] == 0o644


def test_caches_bytecode_and_tests_are_excluded(tmp_path):
    folder = write(tmp_path / "fn", {
        **SOURCES,
        "__pycache__/app.cpython-311.pyc": "x", "lib/__pycache__/util.cpython-311.pyc": "x",
        "old.pyc": "x", "old.pyo": "x", ".DS_Store": "x", "lib/.DS_Store": "x", ".git/config": "x",
        ".pytest_cache/v/cache": "x", "tests/test_app.py": "x", "lib/tests/test_util.py": "x",
        "requirements.txt": "# nothing to vendor\n\n",
    })
    assert build_package(folder).files == ("app.py", "lib/data.json", "lib/util.py", "requirements.txt")


def test_same_folder_is_zipped_once_per_run_until_it_changes(tmp_path):
    folder = write(tmp_path / "fn", SOURCES)
    first = build_package(folder)
    assert build_package(str(folder)) is first
    assert build_package(folder, architecture="arm64") is not first
    (folder / "bootstrap").write_text("#!/bin/sh\n")
    assert build_package(folder) is not first


# --- errors ------------------------------------------------------------------------------------------------

def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(PackagingError, match=r"code folder .*nope does not exist"):
        build_package(tmp_path / "nope")


def test_empty_folder_is_an_error(tmp_path):
    folder = write(tmp_path / "fn", {"__pycache__/app.cpython-311.pyc": "x"})
    with pytest.raises(PackagingError, match="has no files to package"):
        build_package(folder)


def test_unknown_architecture_is_an_error(tmp_path):
    with pytest.raises(PackagingError, match="unknown architecture 'amd64'"):
        build_package(write(tmp_path / "fn", SOURCES), architecture="amd64")


def test_packaging_error_is_a_plain_provisioner_error():
    assert issubclass(PackagingError, ProvisionerError)
    assert not issubclass(PackagingError, SpecError)


# --- requirements.txt --------------------------------------------------------------------------------------

def write_wheel(directory: Path, name: str, version: str = "1.0") -> Path:
    """A minimal py3-none-any wheel, written by hand (building one needs setuptools+wheel, maybe absent)."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(text.encode())}\n"
    files[f"{dist_info}/RECORD"] = record + f"{dist_info}/RECORD,,\n"
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def test_requirements_are_vendored_and_cached_on_disk(tmp_path):
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "provisioner_tiny_dep")
    folder = write(tmp_path / "fn", {
        **SOURCES, "requirements.txt": f"--no-index\n--find-links {wheels}\nprovisioner_tiny_dep\n",
    })
    first = build_package(folder)
    assert "provisioner_tiny_dep/__init__.py" in first.files
    assert "provisioner_tiny_dep-1.0.dist-info/METADATA" in first.files
    assert read_entry(first, "provisioner_tiny_dep/__init__.py") == "VALUE = 42\n"
    assert {"app.py", "requirements.txt"} <= set(first.files)
    assert not [name for name in first.files if name.endswith(".pyc") or "__pycache__" in name]
    assert len(list((tmp_path / "cache" / "packages").iterdir())) == 1

    # pip could no longer install it: a fresh build must come from the disk cache.
    for wheel in wheels.iterdir():
        wheel.unlink()
    wheels.rmdir()
    assert rebuild(folder).zip_bytes == first.zip_bytes


def test_sources_win_over_vendored_files(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", FakePip())
    folder = write(tmp_path / "fn", {"app.py": "mine\n", "requirements.txt": "fake_dep\n"})
    package = build_package(folder)
    assert read_entry(package, "app.py") == "mine\n"
    assert read_entry(package, "fake_dep/__init__.py") == "vendored\n"


def test_pip_failure_names_the_folder_and_pips_error(tmp_path):
    folder = write(tmp_path / "fn", {**SOURCES, "requirements.txt": "--no-index\nprovisioner-no-such-dep==9.9\n"})
    with pytest.raises(PackagingError) as caught:
        build_package(folder)
    message = str(caught.value)
    assert f"pip could not install {folder}/requirements.txt" in message
    assert "provisioner-no-such-dep" in message
    assert not list((tmp_path / "cache" / "packages").iterdir())  # no half-finished cache entry


class FakePip:
    """Stands in for subprocess.run: records pip's argv and installs fake_dep/ into --target."""

    def __init__(self):
        self.commands: list[list[str]] = []

    def __call__(self, command, **kwargs):
        self.commands.append(command)
        target = Path(command[command.index("--target") + 1])
        write(target, {"fake_dep/__init__.py": "vendored\n", "app.py": "vendored\n",
                       "fake_dep/__pycache__/x.pyc": "x", "fake_dep/y.pyc": "x"})
        return subprocess.CompletedProcess(command, 0, "", "")


def test_pip_gets_the_lambda_platform_flags(tmp_path, monkeypatch):
    pip = FakePip()
    monkeypatch.setattr(subprocess, "run", pip)
    folder = write(tmp_path / "fn", {**SOURCES, "requirements.txt": "# deps\nfake_dep\n"})
    package = build_package(folder, architecture="arm64", runtime="python3.11")
    command = pip.commands[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    for flags in (["--platform", "manylinux2014_aarch64"], ["--implementation", "cp"],
                  ["--python-version", "3.11"], ["-r", str(folder / "requirements.txt")]):
        index = command.index(flags[0])
        assert command[index:index + 2] == flags
    assert {"--only-binary=:all:", "--no-compile", "--quiet", "--disable-pip-version-check"} <= set(command)
    assert "fake_dep/__init__.py" in package.files
    assert not [name for name in package.files if name.endswith(".pyc")]

    build_package(folder)
    assert pip.commands[1][pip.commands[1].index("--platform") + 1] == "manylinux2014_x86_64"


def test_disk_cache_is_keyed_by_platform_and_python_version(tmp_path, monkeypatch):
    pip = FakePip()
    monkeypatch.setattr(subprocess, "run", pip)
    folder = write(tmp_path / "fn", {**SOURCES, "requirements.txt": "fake_dep\n"})
    for architecture, runtime in [("x86_64", "python3.12"), ("arm64", "python3.12"), ("x86_64", "python3.11")]:
        rebuild(folder, architecture=architecture, runtime=runtime)
    assert len(pip.commands) == 3
    rebuild(folder, architecture="arm64", runtime="python3.12")
    assert len(pip.commands) == 3


def test_requirements_are_vendored_for_python_runtimes_only(tmp_path, monkeypatch):
    """Another runtime's folder is packaged as it is: its requirements.txt is a file like any other."""
    pip = FakePip()
    monkeypatch.setattr(subprocess, "run", pip)
    folder = write(tmp_path / "fn", {**SOURCES, "requirements.txt": "fake_dep\n"})
    package = build_package(folder, runtime="nodejs20.x")
    assert "requirements.txt" in package.files and not pip.commands


# --- check_handler -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("handler, files", [
    ("app.handler", {"app.py": "def handler(event, context): pass\n"}),
    ("app.handler", {"app.py": "async def handler(event, context): pass\n"}),
    ("app.handler", {"app.py": "from .impl import main\nhandler = main\n"}),
    ("app.handler", {"app.py": "handler: object = make()\n"}),
    ("app.handler", {"app.py": "from impl import handler\n"}),
    ("app.handler", {"app.py": "try:\n    from fast import handler\nexcept ImportError:\n    def handler(): pass\n"}),
    ("app.handler", {"app/__init__.py": "def handler(): pass\n"}),
    ("pkg/sub.module.handler", {"pkg/sub/module.py": "def handler(): pass\n"}),
    ("src/app.handler", {"src/app.py": "def handler(): pass\n"}),
])
def test_valid_handlers(tmp_path, handler, files):
    assert check_handler(write(tmp_path / "fn", files), handler) is None


@pytest.mark.parametrize("handler", ["app", "app.", ".main", "app..main", "app.main-x"])
def test_handler_without_module_and_function(tmp_path, handler):
    folder = write(tmp_path / "fn", {"app.py": "def main(): pass\n"})
    assert check_handler(folder, handler) == f"handler '{handler}' must be MODULE.FUNCTION"


def test_handler_module_not_found():
    assert check_handler("lambda_code/x", "app.main") == (
        "handler 'app.main': module file app.py not found in lambda_code/x")
    assert check_handler("lambda_code/x", "pkg/sub.mod.main") == (
        "handler 'pkg/sub.mod.main': module file pkg/sub/mod.py not found in lambda_code/x")


def test_handler_function_not_defined(tmp_path):
    folder = write(tmp_path / "fn", {
        "app.py": "import json\n\ndef handler(event, context):\n    def main(): pass\n\n"
                  "parse = json.loads\n\nclass main:\n    pass\n",
        "empty.py": "",
    })
    assert check_handler(folder, "app.main") == (
        "handler 'app.main': app.py defines no function 'main' (it defines: handler, parse)")
    assert check_handler(folder, "empty.main") == (
        "handler 'empty.main': empty.py defines no function 'main' (it defines: nothing)")


def test_handler_module_that_does_not_parse_is_never_imported(tmp_path):
    folder = write(tmp_path / "fn", {"app.py": "raise SystemExit('imported!')\n\ndef main(:\n    pass\n"})
    message = check_handler(folder, "app.main")
    assert re.fullmatch(r"handler 'app\.main': app\.py does not parse: \S.* \(line 3\)", message), message


# --- the 50 MB direct-upload limit -----------------------------------------------------------------

def test_direct_upload_limit_is_50_mib_inclusive():
    assert packaging.DIRECT_UPLOAD_LIMIT == 50 * 1024 * 1024
    assert not packaging.exceeds_direct_upload(packaging.DIRECT_UPLOAD_LIMIT)
    assert packaging.exceeds_direct_upload(packaging.DIRECT_UPLOAD_LIMIT + 1)


def test_uses_s3_when_a_bucket_is_named_upload_is_s3_or_the_package_is_too_big():
    from provisioner.services.lambda_code import code_settings, uses_s3
    small, big = 1024, packaging.DIRECT_UPLOAD_LIMIT + 1
    assert not uses_s3(code_settings("code"), small)
    assert uses_s3(code_settings("code"), big)
    assert uses_s3(code_settings({"path": "code", "upload": "s3"}), small)
    assert uses_s3(code_settings({"path": "code", "artifacts_bucket": "packages"}), small)
    assert not uses_s3(code_settings("code"))   # size not known: only the settings count


def test_small_folder_is_known_to_fit_without_zipping(tmp_path, monkeypatch):
    write(tmp_path, {"app.py": "x = 1\n" * 1000})
    monkeypatch.setattr(packaging, "build_package", lambda *a, **k: pytest.fail("zipped a folder that fits"))
    assert not packaging.may_exceed_direct_upload(tmp_path)


@pytest.mark.parametrize("content, over", [(lambda n: os.urandom(n), True), (lambda n: b"a" * n, False)])
def test_a_folder_over_the_bound_is_zipped_to_know(tmp_path, monkeypatch, content, over):
    """Random bytes do not compress (the zip is over the limit); repeated bytes do (it is far below)."""
    monkeypatch.setattr(packaging, "DIRECT_UPLOAD_LIMIT", 256 * 1024)
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "data.bin").write_bytes(content(300 * 1024))
    assert packaging.may_exceed_direct_upload(tmp_path) is over


def test_size_bound_is_never_below_the_zip(tmp_path, monkeypatch):
    for index in range(20):
        (tmp_path / f"f{index:02}.bin").write_bytes(os.urandom(17000 * index + 1))
    size = build_package(tmp_path).size
    monkeypatch.setattr(packaging, "DIRECT_UPLOAD_LIMIT", size - 1)
    monkeypatch.setattr(packaging, "build_package", lambda *a, **k: Package(b"", "", size, ()))
    assert packaging.may_exceed_direct_upload(tmp_path)   # the bound did not say "fits" for a zip over the limit


def test_a_folder_with_requirements_is_packaged_to_know(tmp_path, monkeypatch):
    write(tmp_path, {"app.py": "x = 1\n", "requirements.txt": "somepackage==1.0\n"})
    built = []
    monkeypatch.setattr(packaging, "build_package", lambda *a, **k: built.append(a) or Package(b"", "", 10, ()))
    assert not packaging.may_exceed_direct_upload(tmp_path)
    assert len(built) == 1   # vendored packages are only measured once installed


def test_artifact_key_is_the_hex_sha256_of_the_zip(tmp_path):
    write(tmp_path, {"app.py": "x = 1\n"})
    package = build_package(tmp_path)
    assert packaging.artifact_key("shop-dev-worker", package) == (
        f"lambda/shop-dev-worker/{hashlib.sha256(package.zip_bytes).hexdigest()}.zip")
    assert package.hex_sha256 == base64.b64decode(package.sha256).hex()
