"""What every moekit object shares: owning one native handle, closing it once, and turning statuses into
exceptions. The SWIG proxy owns the handle (its factory is %newobject), so a handle that is never closed is
still destroyed when the proxy is garbage-collected; close() destroys it now."""
from . import _native_module as _nm
from .errors import error_for


def check(status):
    """Raises the exception of a non-OK status with this thread's library message."""
    if status != 0:
        raise error_for(status, _nm.native.moekit_last_error())


def created(handle):
    """The handle a factory returned, or its failure as an exception."""
    if handle is None:
        raise error_for(_nm.native.mkb_last_status(), _nm.native.moekit_last_error())
    return handle


def stream_address(stream):
    """A stream argument as an address: None (the default stream), an int, or an object with .cuda_stream."""
    if stream is None:
        return None
    return int(getattr(stream, "cuda_stream", stream))


class OwnedHandle:
    """Owns one native handle. A closed object passes NULL to the library, which reports it by name."""

    def __init__(self, handle):
        self._handle = handle

    @property
    def closed(self):
        return self._handle is None

    def close(self):
        """Destroys the native handle now. Safe to call more than once."""
        handle, self._handle = self._handle, None
        if handle is not None:
            type(handle).__swig_destroy__(handle)  # disowns the proxy, so it is never destroyed twice

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        state = "closed" if self.closed else "open"
        return f"<moekit.{type(self).__name__} {state}>"
