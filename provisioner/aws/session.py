"""The botocore session and clients of a run: region, profile and endpoint, the standard retry mode,
API-call counting, write caps per service and "not emulated" detection."""
from __future__ import annotations

import collections
import hashlib
import os
import threading
from pathlib import Path

import botocore
import botocore.exceptions
import botocore.loaders
import botocore.session
from botocore.config import Config

from provisioner.aws.models import CachedLoader
from provisioner.cache import cache_root, write_whole
from provisioner.errors import NotEmulated

DEFAULT_MAX_ATTEMPTS = 8   # botocore "standard" retry mode: throttling and transient 5xx, jittered backoff


READ_PREFIXES = ("Describe", "Get", "List", "Head", "Scan", "Query", "BatchGet", "Lookup", "Search")


# concurrent write calls per service, whatever --parallelism says: these control planes throttle hard
WRITE_CAPS = {"iam": 4, "apigateway": 2}


class CallCounter:
    """Counts every API call attempt by service and operation (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.calls: collections.Counter = collections.Counter()

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls[(service, operation)] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def writes(self) -> int:
        return sum(n for (_, op), n in self.calls.items() if not is_read(op))

    def summary(self) -> dict:
        return {
            "total": self.total,
            "writes": self.writes,
            "by_operation": {f"{s}:{op}": n for (s, op), n in sorted(self.calls.items())},
        }


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


def _cap_writes(client, slots: threading.BoundedSemaphore) -> None:
    """Write calls of this client wait for one of `slots`, held until the call (retries included) ends."""
    def take(model, context, **_):
        if not is_read(model.name):
            slots.acquire()
            context["provisioner_write_slot"] = True

    def give_back(context, **_):
        if context.pop("provisioner_write_slot", False):
            slots.release()

    client.meta.events.register("before-call", take)
    client.meta.events.register("after-call", give_back)
    client.meta.events.register("after-call-error", give_back)


class ArnBuilder:
    def arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account_id}:{resource}"


class Aws(ArnBuilder):
    """Shared, thread-safe clients for one run."""

    def __init__(self, region: str, profile: str | None = None, endpoint_url: str | None = None,
                 credentials: dict | None = None, max_pool_connections: int = 20):
        self.region = region
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.counter = CallCounter()
        # a botocore session, not boto3's: boto3 adds nothing clients need here, and importing it (with
        # s3transfer) costs every run tens of milliseconds
        self._session = botocore.session.Session(profile=profile)
        self._session.register_component("data_loader", CachedLoader.for_session(self._session))
        if credentials:
            self._session.set_credentials(credentials["aws_access_key_id"], credentials["aws_secret_access_key"],
                                          credentials.get("aws_session_token"))
        max_attempts = int(os.environ.get("PROVISIONER_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
        self._config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=10, read_timeout=60, max_pool_connections=max_pool_connections,
            user_agent_extra="provisioner")
        self._clients: dict = {}
        self._lock = threading.Lock()
        self._account_id: str | None = None
        self._not_emulated: set = set()   # (service, operation) the endpoint answered as unimplemented

    @property
    def emulated(self) -> bool:
        """True when talking to a custom endpoint (an emulator), where missing APIs answer with HTML pages."""
        return self.endpoint_url is not None

    def client(self, service: str):
        found = self._clients.get(service)   # no lock for a client that exists: creating another one is slow
        if found is not None:
            return found
        with self._lock:
            if service not in self._clients:
                client = self._session.create_client(service, region_name=self.region, endpoint_url=self.endpoint_url,
                                                     config=self._config)
                client.meta.events.register("before-call", self._count)
                if service in WRITE_CAPS:
                    _cap_writes(client, threading.BoundedSemaphore(WRITE_CAPS[service]))
                if self.emulated:
                    client.meta.events.register_first("needs-retry", self._raise_not_emulated)
                    client.meta.events.register_first("before-call", self._skip_not_emulated)
                self._clients[service] = client
            return self._clients[service]

    def _raise_not_emulated(self, response=None, operation=None, **kwargs):
        """An emulator answers an API it lacks with an HTML 404/500/501 page: never retry that, and do not
        ask again in this run (a table's every read would)."""
        if not response or response[0] is None:
            return None
        if operation is not None and operation.http.get("method") == "HEAD":
            return None   # no body, whatever its content type says: a 404 is HeadObject's "no such key"
        http = response[0]
        if http.status_code in (404, 500, 501) and "text/html" in http.headers.get("content-type", ""):
            if operation is not None:
                self._not_emulated.add((operation.service_model.service_name, operation.name))
            raise NotEmulated(operation.name if operation is not None else "operation")
        return None

    def _skip_not_emulated(self, model, **kwargs):
        if (model.service_model.service_name, model.name) in self._not_emulated:
            raise NotEmulated(model.name)

    def _count(self, model, **kwargs):
        self.counter.record(model.service_model.service_name, model.name)

    def warm_up(self, services: list, account: bool) -> None:
        """Builds the clients a run will use (tens of ms of CPU each, a few hundred for a dozen) in a
        background thread, in the order given, while the account id is asked for and then while the first
        calls are waiting for AWS; a call whose client is not built yet builds it itself. One at a time
        (the lock): a botocore session is not safe for concurrent client creation."""
        def build():
            for service in services:
                try:
                    self.client(service)
                except Exception:  # noqa: BLE001 - the call needing that client builds it again and reports
                    pass
        threading.Thread(target=build, name="clients", daemon=True).start()
        if account:
            self.account_id   # noqa: B018 - fetched now, on the caller's thread

    @property
    def account_id(self) -> str:
        """The credentials' account. STS is asked once per access key and endpoint and the answer kept on
        disk: an access key belongs to one account for life, and every plan needs the account before its
        first read (ARNs), so this saves each run a round trip at its start."""
        if self._account_id is None:
            known = self._known_account()
            try:
                self._account_id = known.read_text() if known else None
            except OSError:
                self._account_id = None
            if not (self._account_id or "").isdigit():
                self._account_id = self.client("sts").get_caller_identity()["Account"]
                if known:
                    write_whole(known, self._account_id.encode())
        return self._account_id

    def _known_account(self) -> Path | None:
        credentials = self._session.get_credentials()
        if credentials is None:
            return None
        key = f"{self.endpoint_url or 'aws'}\n{credentials.access_key}"
        return cache_root() / "accounts" / hashlib.sha256(key.encode()).hexdigest()

    @property
    def partition(self) -> str:
        if not self.region:
            return "aws"
        return self._session.get_partition_for_region(self.region)


class OfflineAws(ArnBuilder):
    """ARN building without AWS, for validate-time checks (placeholder account)."""

    partition = "aws"
    account_id = "123456789012"
    emulated = False

    def __init__(self, region: str):
        self.region = region


def offline_context(spec):
    """What predicted_outputs needs, without AWS: for validate-time checks such as policy linting."""
    from types import SimpleNamespace
    aws = OfflineAws(spec.region)
    return SimpleNamespace(aws=aws, region=spec.region, account_id=aws.account_id, spec=spec)
