"""The one tenacity policy for eventual consistency (botocore's standard mode handles throttling)."""
from __future__ import annotations

from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

from provisioner.aws.errors import error_code


def eventually(codes: tuple, timeout: float = 90, message_contains: str | None = None, on_wait=None):
    """Retry a call on eventual-consistency errors (not throttling: botocore handles that).

    Bounded by timeout seconds, jittered exponential waits from 0.5 s up to 8 s.
    """
    def transient(exc: BaseException) -> bool:
        if error_code(exc) not in codes:
            return False
        return message_contains is None or message_contains in str(exc)

    def before_sleep(state):
        if on_wait:
            on_wait(f"waiting for {error_code(state.outcome.exception())} to clear "
                    f"(attempt {state.attempt_number})")

    return retry(retry=retry_if_exception(transient), stop=stop_after_delay(timeout),
                 wait=wait_random_exponential(multiplier=0.5, max=8), reraise=True, before_sleep=before_sleep)
