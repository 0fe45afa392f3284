"""One apply or destroy at a time per project and environment.

The lock is an SSM parameter, `/provisioner/{project}/{environment}/lock`, that exists only while a run
holds it. PutParameter with Overwrite=False creates it or fails with ParameterAlreadyExists, so of two
runs exactly one takes it, and DeleteParameter gives it back: a run that changes something makes one
write and one delete for its lock, and nothing of it is left afterwards. The parameter carries the
environment's ownership and cost tags, like every resource of the environment. (A DynamoDB item would
give compare-and-set, but on a table that outlives every environment and must be created and waited for
first; S3 conditional writes need a bucket the environment may not have.)

Leases, as in AWS's DynamoDB lock client: the record names the holder (user, host, pid and the process's
start), its command and its lease; while the lock is held a heartbeat thread renews it every third of
the lease. A lock whose lease has run out (judged by SSM's clock: the parameter's LastModifiedDate against
the Date of the response), or whose holder ran on this machine and whose process is gone, is taken over
with a message saying whose it was. A live holder is waited for (--lock-timeout) or named in the error.

A parameter has no compare-and-set on an existing value: a heartbeat reads the record before it renews
it, and stops the run if another run took the lock over; a takeover reads the stale record right before
deleting it, and then takes the lock with the same create-only put, so of two runs taking over one dead
lock only one creates it.

Intents live under the same path: a resource that cannot be tagged in its create call (an S3 bucket) is
announced first (`intents/s3/{name}`), so that a run killed between create and tag still finds it as ours.
The lock's calls use their own client: they are not counted as the run's API calls.
"""
from __future__ import annotations

import datetime
import email.utils
import getpass
import json
import os
import socket
import threading
import uuid

import botocore.exceptions
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random_exponential

from provisioner.aws.errors import error_code
from provisioner.engine.ownership import OWNER_ENVIRONMENT, OWNER_PROJECT, OWNER_RESOURCE
from provisioner.errors import ProvisionerError

LEASE_SECONDS = float(os.environ.get("PROVISIONER_LOCK_LEASE_SECONDS", 60))
NOT_FOUND = "ParameterNotFound"
EXISTS = "ParameterAlreadyExists"


class LockHeld(ProvisionerError):
    """Another run holds the environment's lock."""


def describe(holder: dict) -> str:
    return (f"{holder.get('holder', '?')} (pid {holder.get('pid', '?')}, {holder.get('command', '?')}) "
            f"since {holder.get('started', '?')}")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")


def _read(path: str) -> str | None:
    try:
        with open(path) as file:
            return file.read().strip()
    except OSError:
        return None


def _process_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a Linux process; None elsewhere or if it is gone."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    fields = stat.rsplit(")", 1)[-1].split()   # the command name before ")" may hold spaces
    return fields[0], fields[19]


def _machine() -> str:
    """This host, this boot and this pid namespace: a pid means the same process only where all three agree
    (a container with the host's name but its own pids is another machine here)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return "|".join((socket.gethostname(), _read("/proc/sys/kernel/random/boot_id") or "", namespace))


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process: it exists
        pass
    stat = _process_stat(pid)
    if stat is None:
        return True   # no /proc: the pid exists, and that is all that can be known
    state, start = stat
    return state != "Z" and (started is None or start == started)   # a zombie, or the pid used again


def _server_time(response: dict) -> datetime.datetime:
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    try:
        return email.utils.parsedate_to_datetime(date) if date else _now()
    except (TypeError, ValueError):
        return _now()


class EnvironmentLock:
    def __init__(self, client, project: str, environment: str, command: str, tags: dict | None = None,
                 lease_seconds: float = LEASE_SECONDS):
        self.client = client
        self.lock_id = f"{project}/{environment}"
        self.path = f"/provisioner/{project}/{environment}"
        self.name = f"{self.path}/lock"
        self.command = command
        self.tags = {**(tags or {}), OWNER_PROJECT: project, OWNER_ENVIRONMENT: environment,
                     OWNER_RESOURCE: "lock"}
        self.lease_seconds = lease_seconds
        self.token = uuid.uuid4().hex
        self.calls = 0
        self.held = False
        self.lost: str | None = None
        self.on_lost = lambda message: None   # told from the heartbeat thread when another run took over
        self._stop_heartbeat = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._intents_seen: set = set()
        self._started = _stamp(_now())

    def _call(self, operation, **kwargs):
        self.calls += 1
        return getattr(self.client, operation)(**kwargs)

    def _record(self) -> str:
        stat = _process_stat(os.getpid())
        return json.dumps({
            "token": self.token, "holder": f"{getpass.getuser()}@{socket.gethostname()}", "machine": _machine(),
            "pid": os.getpid(), "process_started": stat[1] if stat else None, "command": self.command,
            "started": self._started, "renewed": _stamp(_now()), "lease_seconds": self.lease_seconds})

    def _holder(self, parameter: dict, server_now: datetime.datetime) -> dict:
        """The record of a lock parameter, with `gone` set when its holder is known to be dead."""
        try:
            holder = json.loads(parameter["Value"])
        except ValueError:
            holder = {}
        if not isinstance(holder, dict):
            holder = {}
        modified = parameter.get("LastModifiedDate") or server_now
        holder["renewed"] = _stamp(modified)
        expires = modified + datetime.timedelta(seconds=float(holder.get("lease_seconds", LEASE_SECONDS)))
        holder["gone"] = None
        if holder.get("machine") == _machine() and isinstance(holder.get("pid"), int) and not _alive(
                holder["pid"], holder.get("process_started")):
            holder["gone"] = "its process is gone"
        elif server_now > expires:
            holder["gone"] = f"its lease expired at {_stamp(expires)}"
        return holder

    def holder(self) -> dict | None:
        """The current holder's record, or None when nobody holds the lock."""
        try:
            response = self._call("get_parameter", Name=self.name)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != NOT_FOUND:
                raise
            return None
        return self._holder(response["Parameter"], _server_time(response))

    def _try_take(self) -> bool:
        self._started = _stamp(_now())
        try:
            self._call("put_parameter", Name=self.name, Type="String", Overwrite=False, Value=self._record(),
                       Description="provisioner: the apply/destroy lock of this environment, held while it exists",
                       Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != EXISTS:
                raise
            return False
        self.held, self.lost = True, None
        self._start_heartbeat()
        return True

    def _delete(self, name: str) -> None:
        try:
            self._call("delete_parameter", Name=name)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != NOT_FOUND:
                raise

    def _take_over(self, stale: dict) -> None:
        """Delete a dead holder's lock, unless another record replaced it since it was read."""
        current = self.holder()
        if current is not None and current.get("token") == stale.get("token"):
            self._delete(self.name)

    def acquire(self, timeout: float = 0, on_wait=None, on_takeover=None) -> None:
        """Take the lock: wait up to timeout seconds for a live holder; take over a dead one."""
        def attempt():
            for _ in range(5):   # released or taken over between our put and our read: try again
                if self._try_take():
                    return
                holder = self.holder()
                if holder is None:
                    continue
                if holder["gone"]:
                    if on_takeover:
                        on_takeover(f"taking over the lock of pid {holder.get('pid', '?')} "
                                    f"({holder.get('holder', '?')}, {holder.get('command', '?')}), gone since "
                                    f"{holder['renewed']}: {holder['gone']}")
                    self._take_over(holder)
                    continue
                raise LockHeld(f"{self.lock_id} is locked by {describe(holder)}, lease renewed {holder['renewed']}; "
                               f"wait with --lock-timeout SECONDS (a holder that died is taken over once its "
                               f"lease of {holder.get('lease_seconds', LEASE_SECONDS):g} s runs out), "
                               f"or if that run is gone: provisioner unlock")
            raise LockHeld(f"{self.lock_id}: the lock changed hands five times while being taken")

        def before_sleep(state):
            if on_wait:
                on_wait(str(state.outcome.exception()))

        if timeout <= 0:
            attempt()
            return
        retry(retry=retry_if_exception_type(LockHeld), stop=stop_after_delay(timeout), reraise=True,
              wait=wait_random_exponential(multiplier=0.5, max=5), before_sleep=before_sleep)(attempt)()

    # --- the lease ---
    def _start_heartbeat(self) -> None:
        self._stop_heartbeat.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="lock-heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        renewed = _now()
        while not self._stop_heartbeat.wait(self.lease_seconds / 3):
            try:
                current = self.holder()
                if current is None or current.get("token") != self.token:
                    self._lose("another run took the lock over" if current else "the lock was removed")
                    return
                if self._stop_heartbeat.is_set():
                    return
                self._call("put_parameter", Name=self.name, Type="String", Overwrite=True, Value=self._record())
                renewed = _now()
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                if (_now() - renewed).total_seconds() > self.lease_seconds:
                    self._lose(f"its lease could not be renewed: {exc}")
                    return

    def _lose(self, reason: str) -> None:
        self.lost = reason
        self.on_lost(f"lost the lock of {self.lock_id}: {reason}; starting nothing new")

    def release(self) -> None:
        """Give the lock back if this run holds it (never another run's)."""
        if not self.held:
            return
        self._stop_heartbeat.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        if not self.lost:
            self._delete(self.name)
        self.held = False

    def force_release(self) -> dict | None:
        """Remove whoever's lock it is (for `provisioner unlock`); returns the holder removed."""
        holder = self.holder()
        if holder:
            self._delete(self.name)
        return holder

    def clear_leftovers(self, on_notice=None) -> list[str]:
        """Delete what crashed runs left under the environment's path (a dead holder's lock, intents), unless
        a live run holds the lock; for destroy. Returns the names deleted."""
        names, holder = [], None
        for page in self.client.get_paginator("get_parameters_by_path").paginate(Path=self.path, Recursive=True):
            self.calls += 1
            for parameter in page.get("Parameters", []):
                if parameter["Name"] == self.name:
                    holder = None if self.held else self._holder(parameter, _server_time(page))
                else:
                    names.append(parameter["Name"])
        if holder is not None:
            if not holder["gone"]:
                return []   # another run is at work: what it announced is its own
            if on_notice:
                on_notice(f"removing the lock of pid {holder.get('pid', '?')} ({holder.get('holder', '?')}), "
                          f"gone since {holder['renewed']}: {holder['gone']}")
            names.append(self.name)
        for start in range(0, len(names), 10):   # DeleteParameters takes ten names a call
            self._call("delete_parameters", Names=names[start:start + 10])
        return names

    # --- intents ---
    def _intent_name(self, resource: str) -> str:
        return f"{self.path}/intents/{resource.replace(':', '/')}"

    def intend(self, resource: str) -> None:
        self._intents_seen.add(resource)
        try:
            self._call("put_parameter", Name=self._intent_name(resource), Type="String", Overwrite=False,
                       Value=self.token, Tags=[{"Key": k, "Value": v} for k, v in self.tags.items()])
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != EXISTS:   # announced by a run that was killed: still announced
                raise

    def fulfilled(self, resource: str) -> None:
        if resource in self._intents_seen:   # only what was announced, by this run or one before it
            self._delete(self._intent_name(resource))
            self._intents_seen.discard(resource)

    def pending(self, prefix: str) -> list[str]:
        """Resources announced under prefix (e.g. "s3:") and not confirmed tagged since."""
        start = self._intent_name(prefix).rstrip("/")
        found = []
        for page in self.client.get_paginator("get_parameters_by_path").paginate(Path=start, Recursive=True):
            self.calls += 1
            found.extend(prefix + p["Name"][len(start) + 1:] for p in page.get("Parameters", []))
        self._intents_seen.update(found)
        return found

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False
