"""The errors of sam3-service. They know nothing about HTTP; `api/errors.py` maps them.

Sam3Error
├── InvalidInput          a request that cannot be served as asked (bad prompt, bad field)
│   ├── UnsupportedMedia  a file that is not a supported image or video, or is corrupt
│   └── TooLarge          too many bytes, pixels, frames or seconds
├── NotFound              an unknown task id or blob key
├── Conflict              the request clashes with the current state (cancel a finished task)
├── Unauthorized          no API key, or an unknown one
├── Forbidden             a valid key without the scope for this action
├── RateLimited           too many requests for this key; carries `retry_after` seconds
├── Busy                  queue full or engine saturated
├── ModelNotReady         the model is still loading, or failed to load
├── BackendUnavailable    a database, broker or object store cannot be reached
├── TimedOut              a synchronous request outlived its wait; carries the `task_id`
├── TaskCancelled         raised inside a running job once its task was cancelled
└── ConfigError           settings that cannot work, found at startup
"""

from __future__ import annotations

from typing import Any


class Sam3Error(Exception):
    """Base of every error this service raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, Any]:
        """What a task record keeps of the error it ended with (see `error_from_json`)."""
        return {"code": self.code, "message": self.message}


class InvalidInput(Sam3Error):
    code = "invalid_input"


class UnsupportedMedia(InvalidInput):
    code = "unsupported_media"


class TooLarge(InvalidInput):
    code = "too_large"


class NotFound(Sam3Error):
    code = "not_found"


class Conflict(Sam3Error):
    code = "conflict"


class ModelVersionUnavailable(Conflict):
    """A model version that is not loaded (or is leaving) where the request would run."""

    code = "model_version_unavailable"


class Unauthorized(Sam3Error):
    code = "unauthorized"


class Forbidden(Sam3Error):
    code = "forbidden"


class RateLimited(Sam3Error):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class Busy(Sam3Error):
    code = "busy"


class ModelNotReady(Sam3Error):
    code = "model_not_ready"


class BackendUnavailable(Sam3Error):
    code = "backend_unavailable"


class TimedOut(Sam3Error):
    code = "timed_out"

    def __init__(self, message: str, *, task_id: str) -> None:
        super().__init__(message, task_id=task_id)
        self.task_id = task_id


class TaskCancelled(Sam3Error):
    code = "cancelled"


class ConfigError(Sam3Error):
    code = "config_error"


# Faults that may pass by themselves: a queue that retries (Celery) runs such a job again later.
TRANSIENT_ERRORS: tuple[type[Sam3Error], ...] = (Busy, ModelNotReady, BackendUnavailable)


def error_from_json(error: dict[str, Any]) -> Sam3Error:
    """The error a task ended with (`Sam3Error.to_json`), as the kind it was raised as, so that
    the synchronous path raises it again; codes a task cannot end with read as Sam3Error."""
    exc_type = _TASK_ERRORS.get(error.get("code", ""), Sam3Error)
    return exc_type(error.get("message", "the task failed"))


# The errors a task can end with, by code: those whose constructor takes the message alone.
_TASK_ERRORS: dict[str, type[Sam3Error]] = {
    exc.code: exc
    for exc in (
        InvalidInput,
        UnsupportedMedia,
        TooLarge,
        NotFound,
        ModelVersionUnavailable,
        Busy,
        ModelNotReady,
        BackendUnavailable,
    )
}
