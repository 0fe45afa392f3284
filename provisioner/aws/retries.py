"""Retries and waits, declared once by (service, operation): the eventual-consistency errors a call may
answer while what it needs settles (botocore's standard retry mode already handles throttling), and the
delay and attempts of each botocore waiter. Operations run by the executor look them up here."""
from __future__ import annotations

from dataclasses import dataclass

import botocore.exceptions
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

from provisioner.aws.errors import error_code
from provisioner.errors import RefusedError

ROLE_NOT_ASSUMABLE = ("InvalidParameterValueException", "cannot be assumed")


@dataclass(frozen=True)
class Transient:
    """Errors that clear by themselves: (code, text the message contains or None) pairs, retried with
    jittered exponential waits (0.5 s up to 8 s) for at most timeout seconds."""

    conditions: tuple
    timeout: float
    waiting_for: str = ""        # shown while waiting, e.g. "the new role"
    # (message text, why) pairs: a matching code is final (an emulator's refusal), raised as RefusedError(why)
    permanent: tuple = ()

    def matches(self, exc: BaseException) -> bool:
        code, message = error_code(exc), str(exc)
        if self.refusal(exc):
            return False
        return any(code == want and (contains is None or contains in message) for want, contains in self.conditions)

    def refusal(self, exc: BaseException) -> str | None:
        """The permanent refusal exc is, in words ("why (Operation: Code: text)"), or None."""
        message = str(exc)
        for text, why in self.permanent:
            if text in message:
                return f"{why} ({getattr(exc, 'operation_name', '?')}: {error_code(exc)}: {text})"
        return None


def _codes(*codes: str) -> tuple:
    return tuple((code, None) for code in codes)


DYNAMODB_BUSY = _codes("ResourceInUseException", "LimitExceededException")   # table or index still changing
EC2_NEW_ID = _codes("InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidRouteTableID.NotFound")
S3_CONFLICT = _codes("OperationAborted")   # calls racing on one bucket
# a role (or its policy) created seconds ago is not yet usable by Step Functions; a missing trust or
# permission says the same, hence the bound
STATES_ROLE_NOT_READY = (("AccessDeniedException", "authorized to assume the provided role"),
                         ("AccessDeniedException", "not authorized to access the Log Destination"))

TRANSIENT = {
    # a queue of that name was deleted less than 60 s ago
    ("sqs", "create_queue"): Transient(_codes("AWS.SimpleQueueService.QueueDeletedRecently",
                                              "QueueDeletedRecently"), 75),
    # a role created seconds ago is not yet assumable by Lambda, nor its policy in force
    ("lambda", "create_function"): Transient((ROLE_NOT_ASSUMABLE,), 120, "the new role"),
    ("lambda", "update_function_configuration"): Transient((ROLE_NOT_ASSUMABLE,), 120, "the new role"),
    ("lambda", "create_event_source_mapping"): Transient((("InvalidParameterValueException", "permission"),), 120,
                                                         "the role's access to the source"),
    ("s3", "put_object"): Transient(_codes("NoSuchBucket"), 60),
    # "A conflicting conditional operation is currently in progress"
    ("s3", "*"): Transient(S3_CONFLICT, 60),
    # S3 validates each destination: a queue or topic policy or a function permission just written may not
    # be in force yet
    ("s3", "put_bucket_notification_configuration"): Transient(
        (("InvalidArgument", "Unable to validate"), *S3_CONFLICT), 60, "destination permissions"),
    ("secretsmanager", "create_secret"): Transient((("InvalidRequestException", "scheduled for deletion"),), 60),
    ("stepfunctions", "create_state_machine"): Transient(
        STATES_ROLE_NOT_READY + _codes("StateMachineDeleting"), 120, "the new role"),
    ("stepfunctions", "update_state_machine"): Transient(STATES_ROLE_NOT_READY, 120, "the new role"),
    # moto answers ResourceInUseException for good when a stream is enabled again on a table
    ("dynamodb", "update_table"): Transient(DYNAMODB_BUSY, 900, permanent=(
        ("Cannot enable stream", "the endpoint refuses to enable a stream again on this table"),)),
    ("dynamodb", "delete_table"): Transient(DYNAMODB_BUSY, 900),
    ("dynamodb", "update_continuous_backups"): Transient(_codes("ContinuousBackupsUnavailableException"), 300),
    ("dynamodb", "describe_table"): Transient(_codes("IndexNotActive"), 900),
    ("apigateway", "delete_rest_api"): Transient(_codes("TooManyRequestsException", "ConflictException"), 300),
    # an id EC2 has just returned is not yet known to every call
    ("ec2", "*"): Transient(EC2_NEW_ID, 60),
    # a gateway endpoint goes away asynchronously, and Lambda releases the network interfaces it had in a
    # subnet minutes after the function is gone
    ("ec2", "delete_subnet"): Transient(_codes("DependencyViolation"), 300),
    ("ec2", "delete_vpc"): Transient(_codes("DependencyViolation"), 300),
    ("ec2", "delete_route_table"): Transient(_codes("DependencyViolation"), 300),
}

WAITERS = {
    ("dynamodb", "table_exists"): {"Delay": 2, "MaxAttempts": 450},   # 15 minutes: large GSI backfills are slow
    ("dynamodb", "table_not_exists"): {"Delay": 2, "MaxAttempts": 450},
    ("lambda", "function_active_v2"): {"Delay": 1, "MaxAttempts": 300},
    ("lambda", "function_updated_v2"): {"Delay": 1, "MaxAttempts": 300},
    ("lambda", "published_version_active"): {"Delay": 1, "MaxAttempts": 300},
    ("ec2", "vpc_available"): {"Delay": 2, "MaxAttempts": 90},
    ("ec2", "subnet_available"): {"Delay": 2, "MaxAttempts": 90},
    ("cloudfront", "distribution_deployed"): {"Delay": 15, "MaxAttempts": 140},
}


def transient_for(service: str, method: str) -> Transient | None:
    return TRANSIENT.get((service, method)) or TRANSIENT.get((service, "*"))


def waiter_config(service: str, waiter: str) -> dict:
    return WAITERS[(service, waiter)]


def transient_retry(service: str, method: str, on_wait=None):
    """A decorator retrying the call while it answers one of its declared transient errors (no-op if none)."""
    transient = transient_for(service, method)
    if transient is None:
        return lambda call: call
    return retrying(transient, on_wait)


def retrying(transient: Transient, on_wait=None):
    """Retry a call on the transient errors declared for it, bounded by their timeout."""
    def before_sleep(state):
        if on_wait:
            what = transient.waiting_for or error_code(state.outcome.exception()) + " to clear"
            on_wait(f"waiting for {what} (attempt {state.attempt_number})")

    retried = retry(retry=retry_if_exception(transient.matches), stop=stop_after_delay(transient.timeout),
                    wait=wait_random_exponential(multiplier=0.5, max=8), reraise=True, before_sleep=before_sleep)
    if not transient.permanent:
        return retried

    def refusing(call):
        attempts = retried(call)

        def guarded(**params):
            try:
                return attempts(**params)
            except botocore.exceptions.ClientError as exc:
                why = transient.refusal(exc)
                if why is None:
                    raise
                raise RefusedError(why) from exc
        return guarded
    return refusing
