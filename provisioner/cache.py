"""The disk cache (PROVISIONER_CACHE_DIR, default ~/.cache/provisioner): what is kept there, and keeping it
bounded. Everything in it can be rebuilt; losing it only makes the next run slower.

Each write into the cache prunes it, at most once a day: entries not written (packages: not used) for
MAX_AGE_DAYS go (a botocore version no installation uses any more goes with them), then the oldest
entries until the cache holds at most PROVISIONER_CACHE_MAX_MB. Installations with different botocore
versions share it. The emulators' state under local/ is not part of it.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

SECTIONS = {
    "botocore": "botocore's API models and lists of services, parsed (one folder per botocore version)",
    "accounts": "the account id of each access key and endpoint (asked of STS once)",
    "lint": "parliament's findings for each policy text",
    "packages": "requirements.txt vendored for Lambda, one folder per requirements, platform and Python",
}
MAX_AGE_DAYS = 30
DEFAULT_MAX_MB = 1024
PRUNE_EVERY_SECONDS = 24 * 3600
STAMP = ".pruned"


def cache_root() -> Path:
    return Path(os.environ.get("PROVISIONER_CACHE_DIR") or Path.home() / ".cache" / "provisioner")


def max_bytes() -> int:
    return int(float(os.environ.get("PROVISIONER_CACHE_MAX_MB") or DEFAULT_MAX_MB) * 1024 * 1024)


def write_whole(path: Path, content: bytes) -> None:
    """Writes path whole or not at all, whatever other processes do meanwhile; a cache that cannot be
    written is only slower."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}")
        staging.write_bytes(content)
        os.replace(staging, path)
    except OSError:
        return
    written()


def _size(path: Path) -> int:
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
        return sum(_size(child) for child in path.iterdir())
    except OSError:
        return 0


def entries(section: str) -> list[Path]:
    """A section's entries: files, a package's folder; botocore's are the files of its version folders."""
    folder = cache_root() / section
    children = sorted(folder.iterdir()) if folder.is_dir() else []
    if section != "botocore":
        return children
    return [entry for version in children if version.is_dir() for entry in sorted(version.iterdir())]


def _remove(path: Path) -> int:
    size = _size(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    return size


def info() -> dict:
    """{section: {"entries": n, "bytes": size}} of the cache as it is now."""
    out = {}
    for section in SECTIONS:
        out[section] = {"entries": len(entries(section)), "bytes": _size(cache_root() / section)}
    return out


def clean() -> int:
    """Removes everything the cache holds; returns the bytes freed."""
    return sum(_remove(cache_root() / section) for section in SECTIONS if (cache_root() / section).exists())


def prune(now: float | None = None) -> int:
    """Removes the entries older than MAX_AGE_DAYS, then the oldest entries beyond max_bytes(); returns
    the bytes freed."""
    now = time.time() if now is None else now
    aged = []
    for section in SECTIONS:
        for path in entries(section):
            try:
                aged.append((path.stat().st_mtime, path))
            except OSError:
                continue
    aged.sort()
    freed = 0
    kept = []
    for mtime, path in aged:
        if now - mtime > MAX_AGE_DAYS * 86400:
            freed += _remove(path)
        else:
            kept.append((_size(path), path))
    total, limit = sum(size for size, _ in kept), max_bytes()
    for size, path in kept:   # oldest first
        if total <= limit:
            break
        freed += _remove(path)
        total -= size
    botocore_folder = cache_root() / "botocore"
    for version in botocore_folder.iterdir() if botocore_folder.is_dir() else ():
        if version.is_dir() and not any(version.iterdir()):   # a botocore version no run uses any more
            version.rmdir()
    return freed


def written() -> None:
    """After a write into the cache: prune it if the last pruning is a day old (or never happened)."""
    stamp = cache_root() / STAMP
    try:
        if time.time() - stamp.stat().st_mtime < PRUNE_EVERY_SECONDS:
            return
    except OSError:
        pass
    try:
        stamp.touch()
        prune()
    except OSError:
        pass
