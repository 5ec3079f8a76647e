"""Exceptions raised by moekit, one class per status code of the C API.

Every failing C call raises the class of its status with the library's own message (moekit_last_error(),
which names the offending argument). Each class also derives from the closest built-in exception, so code
that catches ValueError or MemoryError keeps working.
"""
from enum import IntEnum


class Status(IntEnum):
    """moekit_status."""

    OK = 0
    INVALID_ARGUMENT = 1
    UNSUPPORTED = 2
    BACKEND_UNAVAILABLE = 3
    OUT_OF_MEMORY = 4
    DEVICE = 5
    INTERNAL = 6


class MoekitError(Exception):
    """Base class: a moekit call failed. `status` is the Status, `message` the library's message."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self):
        return self.message


class InvalidArgumentError(MoekitError, ValueError):
    """An argument is null, of the wrong dtype/shape/device, or out of range."""

    status = Status.INVALID_ARGUMENT


class UnsupportedError(MoekitError, NotImplementedError):
    """A valid configuration this backend cannot run exactly."""

    status = Status.UNSUPPORTED


class BackendUnavailableError(MoekitError, RuntimeError):
    """Backend module missing, no driver, or no device."""

    status = Status.BACKEND_UNAVAILABLE


class OutOfMemoryError(MoekitError, MemoryError):
    status = Status.OUT_OF_MEMORY


class DeviceError(MoekitError, RuntimeError):
    """A device runtime call failed."""

    status = Status.DEVICE


class InternalError(MoekitError, RuntimeError):
    """A bug in moekit: please report it with the message."""

    status = Status.INTERNAL


_BY_STATUS = {cls.status: cls for cls in (InvalidArgumentError, UnsupportedError, BackendUnavailableError,
                                           OutOfMemoryError, DeviceError, InternalError)}


def error_for(status, message):
    """The exception for a non-OK status code (an unknown code becomes a MoekitError carrying it)."""
    try:
        status = Status(status)
    except ValueError:
        return MoekitError(f"unknown status {status}: {message}", status)
    cls = _BY_STATUS.get(status)
    if cls is None:
        return MoekitError(f"status {status.name} reported as a failure: {message}", status)
    return cls(message)
