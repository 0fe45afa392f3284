"""botocore's API models, kept parsed on disk between runs."""
from __future__ import annotations

import hashlib
import marshal
import os
from pathlib import Path

import botocore
import botocore.loaders

from provisioner.cache import cache_root, write_whole


class CachedModelFiles(botocore.loaders.JSONFileLoader):
    """botocore's API models (service, endpoint rules, paginators, waiters), parsed from JSON the first time
    and kept as marshal files in folder: reading one back is about three times faster than parsing it, and
    a run loads some fifty of them (about 0.1 s saved). The key is the file's path, size and mtime; the
    folder is per botocore version. Anything unreadable is parsed again."""

    def __init__(self, folder: Path):
        self.folder = folder

    def load_file(self, file_path):
        source = next((file_path + ext for ext in (".json", ".json.gz") if os.path.isfile(file_path + ext)), None)
        if source is None:
            return None
        stat = os.stat(source)
        cached = self.folder / hashlib.sha256(f"{source}\n{stat.st_size}\n{stat.st_mtime_ns}".encode()).hexdigest()
        try:
            return marshal.loads(cached.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            pass
        data = super().load_file(file_path)
        try:
            write_whole(cached, marshal.dumps(_plain(data)))
        except ValueError:
            pass
        return data


class CachedLoader(botocore.loaders.Loader):
    """botocore's loader, reading models through CachedModelFiles and keeping its lists of services in the
    same folder: botocore lists them by walking all ~450 service folders, some 10 ms of CPU for each of the
    four model types a run loads. The key holds the search folders and their mtimes."""

    @classmethod
    def for_session(cls, session) -> CachedLoader:
        plain = botocore.loaders.create_loader(session.get_config_variable("data_path"))
        folder = cache_root() / "botocore" / botocore.__version__
        return cls(extra_search_paths=plain.search_paths, include_default_search_paths=False,
                   file_loader=CachedModelFiles(folder))

    def list_available_services(self, type_name):
        found = self._cache.get(("services", type_name))
        if found is not None:
            return found
        folders = "\n".join(f"{path}:{os.stat(path).st_mtime_ns if os.path.isdir(path) else '-'}"
                             for path in self.search_paths)
        cached = self.file_loader.folder / hashlib.sha256(f"services\n{type_name}\n{folders}".encode()).hexdigest()
        try:
            found = marshal.loads(cached.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            found = super().list_available_services(type_name)
            write_whole(cached, marshal.dumps(found))
        self._cache[("services", type_name)] = found
        return found


def _plain(value):
    """JSON data with plain dicts (botocore parses into OrderedDict, which marshal cannot write)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
