"""Deterministic Lambda code packages: the same source folder always gives a byte-identical zip.

Every entry gets a fixed timestamp (1980-01-01), fixed permissions (0644, or 0755 when executable on disk),
a fixed compression level and create_system, and entries are sorted by path; so file mtimes, the umask and
the filesystem's listing order never change the zip, and an unchanged function is never re-uploaded.

A requirements.txt is vendored into the zip root with pip, using the flags Lambda needs:

- ``--platform manylinux2014_x86_64`` (``manylinux2014_aarch64`` for arm64): Lambda runs Amazon Linux, so
  wheels must be manylinux wheels for the function's architecture, whatever machine runs the deploy;
- ``--implementation cp --python-version X.Y``: the CPython version of the function's runtime, not ours;
- ``--only-binary=:all:``: a source build would compile for this machine, not for Lambda (pip also refuses
  ``--platform`` without it);
- ``--no-compile``: bytecode for our Python version would be useless there and break determinism.

Vendored trees are cached on disk (``$PROVISIONER_CACHE_DIR/packages`` or ``~/.cache/provisioner/packages``),
keyed by the requirements text, platform and Python version, so pip does not run on every apply.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.cache import cache_root, written
from provisioner.errors import ProvisionerError

EXCLUDED_DIRS = frozenset({"__pycache__", ".git", ".pytest_cache", "tests"})
EXCLUDED_FILES = frozenset({".DS_Store", ".git"})  # .git is a file in git worktrees and submodules
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 9
UNIX = 3
LAMBDA_PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
# The largest zip CreateFunction / UpdateFunctionCode take inline (ZipFile); a larger one must go through S3.
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024
# Worst case of a zip entry beyond its content: deflate's stored blocks (5 bytes per 16 KiB), the local
# header and the central directory record (30 + 46 bytes plus the name twice); then the end record.
_ENTRY_OVERHEAD, _ARCHIVE_OVERHEAD = 30 + 46, 22
PIP_STDERR_LINES = 10


class PackagingError(ProvisionerError):
    """A code folder cannot be packaged (missing, empty, or its requirements do not install)."""


@dataclass(frozen=True)
class Package:
    zip_bytes: bytes = field(repr=False)
    sha256: str  # base64 of the sha256 digest of zip_bytes: the form Lambda's CodeSha256 uses
    size: int
    files: tuple[str, ...]  # archive entry names, sorted

    @property
    def hex_sha256(self) -> str:
        """The same digest in hex, the form of the package's S3 key (lambda/FUNCTION/HEX.zip)."""
        return base64.b64decode(self.sha256).hex()


# (resolved folder, architecture, runtime, fingerprint of the sources, prefix) -> Package
_packages: dict[tuple[str, str, str, str, str], Package] = {}
_packages_lock = threading.Lock()  # the executor packages functions from several threads


def build_package(folder: str | Path, architecture: str = "x86_64", runtime: str = "python3.12",
                  prefix: str = "") -> Package:
    """Zip `folder` (plus its vendored requirements.txt) deterministically; built once per run.

    prefix puts every entry under a folder of the zip (a Python layer's code lives under python/)."""
    root = Path(folder)
    if not root.is_dir():
        raise PackagingError(f"code folder {folder} does not exist or is not a folder")
    if architecture not in LAMBDA_PLATFORMS:
        raise PackagingError(f"unknown architecture {architecture!r} for {folder} (use x86_64 or arm64)")
    sources = _read_tree(root, skip_excluded=True)
    if not sources:
        raise PackagingError(f"code folder {folder} has no files to package")
    key = (str(root.resolve()), architecture, runtime, _fingerprint(sources), prefix)
    with _packages_lock:
        if key not in _packages:
            entries = {}
            requirements = sources.get("requirements.txt", (b"", 0))[0].decode("utf-8", "replace")
            if runtime.startswith("python") and _has_requirements(requirements):   # other runtimes: as they are
                vendored = _vendored_tree(root, requirements, architecture, runtime)
                entries.update(_read_tree(vendored, skip_excluded=False))
            entries.update(sources)  # sources win over vendored files of the same name
            _packages[key] = _zip({prefix + name: entry for name, entry in entries.items()})
        return _packages[key]


def exceeds_direct_upload(size: int) -> bool:
    """True when a zip of `size` bytes is over Lambda's direct-upload limit and must go through S3."""
    return size > DIRECT_UPLOAD_LIMIT


def artifact_key(function_name: str, package: Package) -> str:
    """Where a function's package lives in an artifacts bucket: one object per function and content."""
    return f"lambda/{function_name}/{package.hex_sha256}.zip"


def may_exceed_direct_upload(folder: str | Path, architecture: str = "x86_64", runtime: str = "python3.12") -> bool:
    """Whether the package of `folder` may be over the direct-upload limit, known before any plan.

    Without a requirements.txt an upper bound of the zip's size from the files' sizes decides without
    zipping (deflate never grows an entry by more than its block headers); only a folder whose bound is over
    the limit, or whose requirements are vendored (their size is only known once installed), is packaged
    here, once per run (the plan reuses the package)."""
    root = Path(folder)
    if not root.is_dir():
        return False
    bound, requirements = _ARCHIVE_OVERHEAD, False
    for directory, subdirectories, filenames in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if name not in EXCLUDED_DIRS]
        for name in filenames:
            path = Path(directory, name)
            if _is_excluded_file(name) or not path.is_file():
                continue
            size = path.stat().st_size
            relative = path.relative_to(root).as_posix()
            bound += size + 5 * (size // 16384 + 1) + _ENTRY_OVERHEAD + 2 * len(relative.encode())
            if relative == "requirements.txt":
                requirements = _has_requirements(path.read_text("utf-8", "replace"))
    if not requirements and not exceeds_direct_upload(bound):
        return False
    return exceeds_direct_upload(build_package(root, architecture, runtime).size)


def check_handler(folder: str | Path, handler: str) -> str | None:
    """None when `handler` names a function of a module in `folder`, else a one-line message.

    Reads the module with `ast` and never imports it."""
    module, _, function = handler.rpartition(".")
    segments = module.replace(".", "/").split("/")
    if not function.isidentifier() or not all(segments):
        return f"handler '{handler}' must be MODULE.FUNCTION"
    module_path = "/".join(segments)
    candidates = [f"{module_path}.py", f"{module_path}/__init__.py"]
    module_file = next((name for name in candidates if (Path(folder) / name).is_file()), None)
    if module_file is None:
        return f"handler '{handler}': module file {candidates[0]} not found in {folder}"
    try:
        tree = ast.parse((Path(folder) / module_file).read_bytes(), filename=module_file)
    except (SyntaxError, ValueError) as error:  # ValueError: null bytes, before Python 3.12
        where = f" (line {error.lineno})" if getattr(error, "lineno", None) else ""
        return f"handler '{handler}': {module_file} does not parse: {getattr(error, 'msg', error)}{where}"
    defined: list[str] = []
    imported: set[str] = set()
    _collect_top_level_names(tree.body, defined, imported)
    if function in defined or function in imported or "*" in imported:
        return None
    listing = ", ".join(dict.fromkeys(defined)) or "nothing"
    return f"handler '{handler}': {module_file} defines no function '{function}' (it defines: {listing})"


def _collect_top_level_names(statements: list[ast.stmt], defined: list[str], imported: set[str]) -> None:
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.append(node.name)
        elif isinstance(node, ast.Assign):
            defined += [target.id for target in node.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
            defined.append(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            # `from .impl import handler` is a valid handler too; a `*` import could define anything.
            imported.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):  # e.g. try: from fast import main / except: def main
            blocks = [node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])]
            blocks += [except_handler.body for except_handler in getattr(node, "handlers", [])]
            for block in blocks:
                _collect_top_level_names(block, defined, imported)


def _read_tree(root: Path, skip_excluded: bool) -> dict[str, tuple[bytes, int]]:
    """{posix relative path: (content, zip mode)} for every regular file under root."""
    files = {}
    for directory, subdirectories, filenames in os.walk(root):
        if skip_excluded:
            subdirectories[:] = [name for name in subdirectories if name not in EXCLUDED_DIRS]
            filenames = [name for name in filenames if not _is_excluded_file(name)]
        for name in filenames:
            path = Path(directory, name)
            if not path.is_file():  # dangling symlink, socket, ...
                continue
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            files[path.relative_to(root).as_posix()] = (path.read_bytes(), mode)
    return files


def _is_excluded_file(name: str) -> bool:
    return name in EXCLUDED_FILES or name.endswith(EXCLUDED_SUFFIXES)


def _fingerprint(files: dict[str, tuple[bytes, int]]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        content, mode = files[name]
        digest.update(f"{name}\0{mode:o}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    return digest.hexdigest()


def _zip(entries: dict[str, tuple[bytes, int]]) -> Package:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(entries):
            content, mode = entries[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = UNIX
            info.external_attr = mode << 16
            archive.writestr(info, content, compresslevel=COMPRESS_LEVEL)
    zip_bytes = buffer.getvalue()
    sha256 = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")
    return Package(zip_bytes=zip_bytes, sha256=sha256, size=len(zip_bytes), files=tuple(sorted(entries)))


def _has_requirements(requirements: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in requirements.splitlines())


def _python_version(runtime: str, folder: Path) -> str:
    match = re.fullmatch(r"python(\d+\.\d+)", runtime)
    if not match:
        raise PackagingError(f"cannot vendor {folder}/requirements.txt for runtime {runtime!r} (not pythonX.Y)")
    return match.group(1)


def _vendored_tree(folder: Path, requirements: str, architecture: str, runtime: str) -> Path:
    """The folder holding `requirements` installed for Lambda: from the disk cache, or pip-installed into it."""
    platform, python_version = LAMBDA_PLATFORMS[architecture], _python_version(runtime, folder)
    key = hashlib.sha256(f"{platform}\n{python_version}\n{requirements}".encode()).hexdigest()
    target = cache_root() / "packages" / key
    if target.is_dir():
        os.utime(target)   # used: pruning takes the packages no run used for longest
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=target.parent))
    try:
        _pip_install(folder, staging, platform, python_version)
        _remove_bytecode(staging)
        try:
            staging.rename(target)  # atomic: a half-finished install is never taken for a cached one
        except OSError:
            if not target.is_dir():  # otherwise a concurrent run cached the same requirements first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written()
    return target


def _pip_install(folder: Path, target: Path, platform: str, python_version: str) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--platform", platform, "--implementation", "cp",
        "--python-version", python_version, "--only-binary=:all:", "-r", str(folder / "requirements.txt"),
    ]
    # cwd=folder: relative paths in requirements.txt (./libs/x, --find-links wheels) mean the code folder.
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-PIP_STDERR_LINES:])
        raise PackagingError(f"pip could not install {folder}/requirements.txt (exit {result.returncode}):\n{tail}")


def _remove_bytecode(root: Path) -> None:
    for directory, subdirectories, filenames in os.walk(root):
        if "__pycache__" in subdirectories:
            subdirectories.remove("__pycache__")
            shutil.rmtree(Path(directory, "__pycache__"))
        for name in filenames:
            if name.endswith(".pyc"):
                Path(directory, name).unlink()
