"""Error paths: each failure raises the exception of its status carrying the library's own message (which
names the argument), and leaves every output byte-for-byte untouched."""
import ctypes
import subprocess
import sys

import numpy as np
import pytest

import moekit
from moekit import errors

SENTINEL = 0x5A


def sentinel(shape, dtype):
    a = np.empty(shape, dtype=dtype)
    a.view(np.uint8)[...] = SENTINEL
    return a


def untouched(a):
    return bool(np.all(a.view(np.uint8) == SENTINEL))


def assert_library_error(excinfo, cls, argument):
    """The exception is `cls`, its status matches, and its message is the library's, naming `argument`."""
    exc = excinfo.value
    assert type(exc) is cls
    assert exc.status == cls.status
    assert str(exc) == moekit._native.moekit_last_error()
    assert str(exc).startswith(argument + ":"), str(exc)


@pytest.fixture
def layer(ctx, rng):
    """A small f32 layer: (router, experts, hidden, logits)."""
    router = ctx.router(num_experts=4, top_k=2, renormalize=True)
    experts = ctx.experts(num_experts=4, hidden_size=32, intermediate_size=32, weight_format="f32")
    experts.set_weights(rng.standard_normal((4, 64, 32)).astype(np.float32),
                        rng.standard_normal((4, 32, 32)).astype(np.float32))
    hidden = rng.standard_normal((5, 32)).astype(np.float32)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    yield router, experts, hidden, logits
    router.close()
    experts.close()


# ---- a CPU array that DLPack says lives on a CUDA device (no GPU needed: moekit must reject it unread) --------
class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32),
                ("ndim", ctypes.c_int32), ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.c_void_p), ("byte_offset", ctypes.c_uint64),
                ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_DLTENSOR_NAME = b"dltensor"


class FakeDeviceTensor:
    """Exports `array`'s memory through DLPack labelled as (device_type, device_id)."""

    def __init__(self, array, device_type=2, device_id=0):
        self.array = np.ascontiguousarray(array)
        self.shape = (ctypes.c_int64 * self.array.ndim)(*self.array.shape)
        code = {np.dtype(np.float32): 2, np.dtype(np.int32): 0}[self.array.dtype]
        self.managed = _DLManagedTensor(self.array.ctypes.data, device_type, device_id, self.array.ndim, code,
                                        self.array.dtype.itemsize * 8, 1, self.shape, None, 0, None, None)
        self.device = (device_type, device_id)

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None):
        return _capsule_new(ctypes.addressof(self.managed), _DLTENSOR_NAME, None)


# ---- dtype / shape / device / handle errors from the library ----------------------------------------------------
def test_bad_dtype_raises_with_library_message_and_leaves_output(layer):
    router, experts, hidden, logits = layer
    out = sentinel(hidden.shape, np.int32)  # same dtype as hidden, so the library reports hidden's
    with pytest.raises(moekit.InvalidArgumentError) as excinfo:
        moekit.moe_forward(router, experts, hidden.astype(np.int32), logits, out=out)
    assert_library_error(excinfo, moekit.InvalidArgumentError, "hidden")
    assert "int32" in str(excinfo.value)
    assert untouched(out)


def test_bad_shape_raises_with_library_message_and_leaves_plan(layer):
    router, _, _, logits = layer
    plan = router.empty_plan(5)
    for name in moekit.router.PLAN_FIELDS:
        getattr(plan, name).view(np.uint8)[...] = SENTINEL
    wide = np.zeros((5, 5), dtype=np.float32)  # 5 experts' logits for a 4-expert router
    with pytest.raises(moekit.InvalidArgumentError) as excinfo:
        router.route(wide, plan=plan)
    assert_library_error(excinfo, moekit.InvalidArgumentError, "logits")
    assert all(untouched(getattr(plan, n)) for n in moekit.router.PLAN_FIELDS)


def test_wrong_device_raises_with_library_message(layer):
    router, experts, hidden, logits = layer
    out = sentinel(hidden.shape, np.float32)
    with pytest.raises(moekit.InvalidArgumentError) as excinfo:
        moekit.moe_forward(router, experts, FakeDeviceTensor(hidden), logits, out=out)
    assert_library_error(excinfo, moekit.InvalidArgumentError, "hidden")
    assert "cuda" in str(excinfo.value).lower()
    assert untouched(out)


def test_non_contiguous_input_is_rejected_by_the_library(ctx, layer):
    router, _, _, _ = layer
    logits = np.zeros((5, 8), dtype=np.float32)[:, ::2]  # a strided view, passed without a copy
    with pytest.raises(moekit.InvalidArgumentError) as excinfo:
        router.route(logits)
    assert_library_error(excinfo, moekit.InvalidArgumentError, "logits")


def test_closed_handle_raises_with_library_message(ctx, layer):
    router, experts, hidden, logits = layer
    router.close()
    router.close()  # closing twice is a no-op
    assert router.closed
    out = sentinel(hidden.shape, np.float32)
    with pytest.raises(moekit.InvalidArgumentError) as excinfo:
        moekit.moe_forward(router, experts, hidden, logits, out=out)
    assert_library_error(excinfo, moekit.InvalidArgumentError, "router")
    assert untouched(out)


def test_closed_context_cannot_create_but_its_objects_keep_working(rng):
    ctx = moekit.Context("cpu")
    quantizer = ctx.quantizer("fp8_per_token")
    ctx.close()
    with pytest.raises(moekit.InvalidArgumentError) as excinfo:
        ctx.router(num_experts=4, top_k=1)
    assert_library_error(excinfo, moekit.InvalidArgumentError, "ctx")
    with quantizer:
        values, _ = quantizer.quantize(rng.standard_normal((2, 32)).astype(np.float32))
    assert values.shape == (2, 32)


def test_bad_descriptor_raises_from_the_factory(ctx):
    with pytest.raises(moekit.InvalidArgumentError) as excinfo:
        ctx.router(num_experts=4, top_k=5)
    assert "top_k" in str(excinfo.value)
    assert str(excinfo.value) == moekit._native.moekit_last_error()


def test_quantize_bad_input_leaves_outputs(ctx):
    values = sentinel((2, 64), np.uint8)
    scales = sentinel((2, 1), np.float32)
    with ctx.quantizer("fp8_per_token") as q:
        with pytest.raises(moekit.InvalidArgumentError) as excinfo:
            q.quantize(np.zeros((2, 64), dtype=np.int32), values=values, scales=scales)
    assert_library_error(excinfo, moekit.InvalidArgumentError, "input")
    assert untouched(values) and untouched(scales)


def test_unavailable_backend_raises_backend_unavailable():
    info = moekit.backend_info("cuda")
    if info.available:
        pytest.skip("a CUDA backend is available here")
    with pytest.raises(moekit.BackendUnavailableError) as excinfo:
        moekit.Context("cuda")
    assert isinstance(excinfo.value, RuntimeError)
    assert str(excinfo.value) == moekit._native.moekit_last_error() != ""


# ---- errors the binding raises itself (things it cannot describe to the library) ----------------------------------
def test_dtype_moekit_lacks_is_named(ctx):
    with ctx.router(num_experts=4, top_k=1) as router:
        with pytest.raises(moekit.InvalidArgumentError, match="logits: element type float64"):
            router.route(np.zeros((2, 4)))


def test_non_array_is_a_type_error(ctx):
    with ctx.router(num_experts=4, top_k=1) as router:
        with pytest.raises(TypeError, match="logits"):
            router.route([[0.0, 1.0, 2.0, 3.0]])


def test_read_only_output_is_rejected(ctx, layer):
    router, experts, hidden, logits = layer
    out = np.zeros_like(hidden)
    out.flags.writeable = False
    with pytest.raises(moekit.InvalidArgumentError, match="out"):
        moekit.moe_forward(router, experts, hidden, logits, out=out)
    assert not out.any()


def test_host_vectors_are_length_checked(ctx):
    with pytest.raises(moekit.InvalidArgumentError, match="correction_bias"):
        ctx.router(num_experts=8, top_k=2, scoring="sigmoid", correction_bias=np.zeros(7, np.float32))


def test_unknown_enum_name(ctx):
    with pytest.raises(ValueError, match="scheme"):
        ctx.quantizer("int3")


# ---- the status -> exception mapping -------------------------------------------------------------------------
@pytest.mark.parametrize("status,cls,builtin", [
    (1, moekit.InvalidArgumentError, ValueError), (2, moekit.UnsupportedError, NotImplementedError),
    (3, moekit.BackendUnavailableError, RuntimeError), (4, moekit.OutOfMemoryError, MemoryError),
    (5, moekit.DeviceError, RuntimeError), (6, moekit.InternalError, RuntimeError)])
def test_every_status_has_its_exception(status, cls, builtin):
    exc = errors.error_for(status, "x: why")
    assert type(exc) is cls and isinstance(exc, builtin) and isinstance(exc, moekit.MoekitError)
    assert exc.status == status and str(exc) == "x: why"
    assert moekit._native.moekit_status_string(status) != "unknown status"


def test_unknown_status_is_not_dropped():
    exc = errors.error_for(99, "boom")
    assert type(exc) is moekit.MoekitError and exc.status == 99 and "boom" in str(exc)


def test_missing_explicit_library_names_what_was_looked_for(tmp_path):
    missing = tmp_path / "libmoekit.so.1"
    code = "import moekit"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"MOEKIT_LIBRARY": str(missing), "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and str(missing) in proc.stderr
