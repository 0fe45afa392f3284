"""The embedded AWS emulator for --local: a moto server on 127.0.0.1, started on demand.

Each project folder (the checkout: the nearest folder above the current one that holds .git, else
the current folder) has its own emulator. Its port, pid and folder are kept in the state folder
(PROVISIONER_STATE_DIR, default ~/.cache/provisioner) under local/, so every command run in that
checkout talks to the same server, and no other checkout sees or stops it. State lives as long as
that server runs; `provisioner local stop` ends it.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from provisioner.errors import ProvisionerError

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def state_dir() -> Path:
    return Path(os.environ.get("PROVISIONER_STATE_DIR") or Path.home() / ".cache" / "provisioner")


def project_folder() -> Path:
    """The checkout the emulator belongs to: the nearest folder holding .git, else the current folder."""
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if (folder / ".git").exists()), here)


def _state_file(folder: Path) -> Path:
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    return state_dir() / "local" / f"{key}.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status() -> dict | None:
    """{"port", "pid", "folder", "endpoint_url"} of this project folder's running emulator, or None."""
    folder = project_folder()
    try:
        state = json.loads(_state_file(folder).read_text())
    except (OSError, ValueError):
        return None
    if state.get("folder") != str(folder):   # the owner is recorded: never another checkout's server
        return None
    if _pid_alive(state.get("pid", -1)) and _port_open(state.get("port", 0)):
        return {**state, "endpoint_url": f"http://127.0.0.1:{state['port']}"}
    return None


class EmulatorUnavailable(ProvisionerError):
    hint = "install the emulator with: pip install 'provisioner[local]'"


def start_server(port: int | None = None, log_path: Path | None = None) -> subprocess.Popen:
    """Start a moto server process on 127.0.0.1 (caller owns the process)."""
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise EmulatorUnavailable("--local needs the moto server, which is not installed") from exc
    port = port or free_port()
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        # moto's server with the corrections of emulator_fixes (TLS-only bucket policies deny nothing)
        [sys.executable, "-m", "provisioner.emulator_fixes", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    process.port = port
    _wait_until_listening(process, port)
    return process


class _NotYet(Exception):
    pass


def _wait_until_listening(process, port: int) -> None:
    @retry(retry=retry_if_exception_type(_NotYet), stop=stop_after_delay(30), wait=wait_fixed(0.1), reraise=True)
    def check():
        if process.poll() is not None:
            raise EmulatorUnavailable(f"the emulator exited at start (code {process.returncode})")
        if not _port_open(port):
            raise _NotYet()

    try:
        check()
    except _NotYet as exc:
        process.kill()
        raise EmulatorUnavailable(f"the emulator did not listen on 127.0.0.1:{port} within 30 s") from exc


_starting = threading.Lock()   # a run asks from two threads at once (the lock's client and the run's)


def ensure_running() -> str:
    """Endpoint URL of the embedded emulator, starting it in the background if none is running."""
    with _starting:
        running = status()
        if running:
            return running["endpoint_url"]
        folder, state = project_folder(), _state_file(project_folder())
        state.parent.mkdir(parents=True, exist_ok=True)
        process = start_server(log_path=state.with_suffix(".log"))
        state.write_text(json.dumps({"port": process.port, "pid": process.pid, "folder": str(folder),
                                     "started": time.time()}))
        endpoint = f"http://127.0.0.1:{process.port}"
        print(f"started the embedded AWS emulator for {folder} at {endpoint} (pid {process.pid}); it keeps "
              f"running for later --local commands in this folder: stop it with `provisioner local stop`",
              file=sys.stderr, flush=True)
        return endpoint


def stop() -> bool:
    """Stop this project folder's emulator; False if it was not running."""
    running = status()
    _state_file(project_folder()).unlink(missing_ok=True)   # this folder's own file, stale or not
    if not running:
        return False
    try:
        os.killpg(running["pid"], signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        os.kill(running["pid"], signal.SIGTERM)
    for _ in range(50):
        if not _pid_alive(running["pid"]):
            break
        time.sleep(0.1)
    return True
