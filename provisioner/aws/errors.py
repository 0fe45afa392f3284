"""What AWS errors mean: not-found codes as values, "already gone" as done, APIs an emulator lacks."""
from __future__ import annotations

import contextlib

import botocore.exceptions

from provisioner.errors import NotEmulated

# An API the endpoint lacks: an emulator's HTML error page (NotEmulated), or moto's in-process mock,
# which raises NotImplementedError from the call itself. Real AWS raises neither.
NOT_EMULATED = (NotEmulated, NotImplementedError)


# what a call to AWS (or to an emulator that lacks the API) raises
CALL_ERRORS = (botocore.exceptions.ClientError, *NOT_EMULATED)


def is_not_emulated(exc: BaseException) -> bool:
    """An API the endpoint lacks, however it says so: an HTML page (NotEmulated), moto's in-process
    NotImplementedError, or its error code "404" with "Not yet implemented" (no AWS error code is "404")."""
    if isinstance(exc, NOT_EMULATED):
        return True
    return error_code(exc) == "404" and "not yet implemented" in str(exc).lower()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (or of any exception carrying such a response)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code", "")
    return ""


def unless_missing(call, *codes: str, default=None, **kwargs):
    """call(**kwargs), or default when AWS answers with one of the not-found codes: missing is a value."""
    try:
        return call(**kwargs)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in codes:
            return default
        raise


@contextlib.contextmanager
def missing_is_done(*codes: str):
    """For deletes: AWS answering that the resource (or a part of it) is already gone is the outcome wanted."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) not in codes:
            raise


def is_not_found(exc: Exception, *codes: str) -> bool:
    return error_code(exc) in codes
