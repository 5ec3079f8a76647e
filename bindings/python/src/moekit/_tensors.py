"""Turns Python array objects into (address, descriptor) pairs for the SWIG layer, without copying.

Accepted: any object with __dlpack__ (NumPy >= 1.22, PyTorch, CuPy, JAX; CPU or GPU memory), else any object
with the buffer protocol (bytes, bytearray, array.array, memoryview). The returned Bound keeps the exporter
alive (the DLPack capsule / the memoryview) until the call that uses it has returned; the memory is never
copied. Layout checks (contiguity, rank, shape) are left to the library so that its message names the
argument; this module only rejects what it cannot describe at all (an element type moekit has no dtype for).
"""
import ctypes

from .enums import DeviceType, DType
from .errors import InvalidArgumentError


# ---- DLPack (v0.x "dltensor" capsules; the layout is frozen by the DLPack ABI) ------------------------------
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.restype = ctypes.c_void_p
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]

# DLDataTypeCode: kDLInt 0, kDLUInt 1, kDLFloat 2, kDLBfloat 4, kDLFloat8_e4m3fn 10, kDLFloat8_e5m2 12,
# kDLFloat8_e8m0fnu 14.
_DLPACK_DTYPES = {
    (2, 32): DType.F32, (2, 16): DType.F16, (4, 16): DType.BF16,
    (10, 8): DType.F8_E4M3FN, (12, 8): DType.F8_E5M2, (14, 8): DType.E8M0,
    (0, 32): DType.I32, (0, 64): DType.I64, (1, 8): DType.U8, (1, 32): DType.U32,
}
_DLPACK_NAMES = {0: "int", 1: "uint", 2: "float", 3: "opaque_handle", 4: "bfloat", 5: "complex", 6: "bool"}

# ---- buffer protocol formats (native byte order, which moekit requires: little-endian hosts) ----------------
_FORMAT_DTYPES = {"f": DType.F32, "e": DType.F16, "B": DType.U8, "I": DType.U32,
                  "i": DType.I32, "q": DType.I64}
_FORMAT_DTYPES_BY_SIZE = {("l", 8): DType.I64, ("L", 4): DType.U32, ("l", 4): DType.I32}

_ITEMSIZE = {DType.F32: 4, DType.F16: 2, DType.BF16: 2, DType.F8_E4M3FN: 1, DType.F8_E5M2: 1, DType.E8M0: 1,
             DType.FP4_E2M1X2: 1, DType.I32: 4, DType.I64: 8, DType.U8: 1, DType.U32: 4}
# Raw carriers a caller may use for types NumPy lacks: uint8/int8 bytes for the 1-byte formats, uint16/int16
# for bfloat16. Only these are reinterpreted; any other mismatch goes to the library, which names it.
_RAW_CARRIERS = {(1, 0, 8), (1, 1, 8), (2, 0, 16), (2, 1, 16)}  # (itemsize, dlpack code, bits)


class Bound:
    """One tensor argument: data address, SWIG descriptor, owner kept alive, device."""

    __slots__ = ("address", "desc", "keepalive", "dtype", "shape", "device_type", "device_id")

    def __init__(self, address=None, desc=None, keepalive=None, dtype=None, shape=(), device=(1, 0)):
        self.address = address
        self.desc = desc
        self.keepalive = keepalive
        self.dtype = dtype
        self.shape = tuple(shape)
        self.device_type, self.device_id = device

    @property
    def on_cpu(self):
        return self.device_type == DeviceType.CPU


ABSENT = Bound()


def _describe(native, dtype, shape, strides, device):
    desc = native.TensorDesc(int(dtype), len(shape), int(device[0]), int(device[1]))
    for axis, (size, stride) in enumerate(zip(shape, strides)):
        desc.set_dim(axis, int(size), int(stride))
    return desc


def _row_major_strides(shape):
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(int(size), 1)
    return tuple(reversed(strides))


def _pick_dtype(name, found, raw_key, want):
    """The moekit dtype to describe the memory with: `want` when the memory is a raw carrier of its size."""
    if want is not None and (want == found or (raw_key[:3] in _RAW_CARRIERS and raw_key[0] == _ITEMSIZE[want])):
        return want
    if found is None:
        raise InvalidArgumentError(f"{name}: element type {raw_key[3]} has no moekit dtype")
    return found


def _bind_dlpack(native, obj, name, want, stream):
    if int(obj.__dlpack_device__()[0]) == DeviceType.CPU:
        capsule = obj.__dlpack__()
    else:  # the consumer names the stream it will use; None = the legacy default stream (moekit's default)
        capsule = obj.__dlpack__(stream=stream)
    managed = _DLManagedTensor.from_address(_capsule_get_pointer(capsule, b"dltensor"))
    t = managed.dl_tensor
    device = (int(t.device.device_type), int(t.device.device_id))  # the tensor's own word is authoritative
    code, bits, lanes = t.dtype.code, t.dtype.bits, t.dtype.lanes
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else _row_major_strides(shape)
    found = _DLPACK_DTYPES.get((code, bits)) if lanes == 1 else None
    type_name = f"{_DLPACK_NAMES.get(code, f'code{code}')}{bits}" + (f"x{lanes}" if lanes != 1 else "")
    dtype = _pick_dtype(name, found, (bits // 8, code, bits, type_name), want)
    address = (t.data or 0) + t.byte_offset
    desc = _describe(native, dtype, shape, strides, device)
    # The capsule stays unconsumed: when it is released after the call, its producer frees the export.
    return Bound(address or None, desc, (obj, capsule), dtype, shape, device)


def _bind_buffer(native, obj, name, want, writable):
    view = memoryview(obj)
    fmt = view.format.lstrip("@=<")
    found = _FORMAT_DTYPES.get(fmt)
    if found is None:  # (DType.F32 is 0: never chain these lookups with `or`)
        found = _FORMAT_DTYPES_BY_SIZE.get((fmt, view.itemsize))
    if fmt in ("b", "h", "H"):  # raw carriers: int8 / int16 / uint16
        code = 0 if fmt in ("b", "h") else 1
    else:
        code = {DType.U8: 1}.get(found, 0)
    raw_key = (view.itemsize, code, view.itemsize * 8, f"'{view.format}'")
    dtype = _pick_dtype(name, found, raw_key, want)
    shape = view.shape if view.ndim else ()
    if view.strides and any(s % view.itemsize for s in view.strides):
        raise InvalidArgumentError(f"{name}: strides {view.strides} are not a multiple of the element size")
    strides = tuple(s // view.itemsize for s in view.strides) if view.ndim else ()
    try:
        address = native.mkb_py_buffer_address(view, 1 if writable else 0)
    except BufferError as exc:
        raise InvalidArgumentError(f"{name}: {exc}") from exc
    desc = _describe(native, dtype, shape, strides, (DeviceType.CPU, 0))
    return Bound(address if view.nbytes else None, desc, view, dtype, shape, (DeviceType.CPU, 0))


def bind(native, obj, name, *, dtype=None, writable=False, stream=None):
    """`obj` as a Bound (None: an absent tensor). `dtype` reinterprets raw uint8/uint16 memory (see above)."""
    if obj is None:
        return ABSENT
    if isinstance(obj, Bound):
        return obj
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        try:
            return _bind_dlpack(native, obj, name, dtype, stream)
        except BufferError:
            # NumPy cannot export read-only arrays through DLPack; the buffer protocol can.
            if not _has_buffer(obj):
                raise
    if _has_buffer(obj):
        return _bind_buffer(native, obj, name, dtype, writable)
    raise TypeError(f"{name}: expected an array with __dlpack__ or the buffer protocol, got {type(obj).__name__}")


def _has_buffer(obj):
    try:
        memoryview(obj).release()
        return True
    except TypeError:
        return False
