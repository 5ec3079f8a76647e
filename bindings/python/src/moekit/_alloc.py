"""Output allocation: NumPy arrays for CPU results; for device results, a tensor of the input's framework
(PyTorch) on the input's device, which the caller gets back and can pass on through DLPack."""
import sys

import numpy as np

from .enums import DType
from .errors import InvalidArgumentError

# 1-byte formats NumPy lacks come back as uint8 arrays of their raw encodings.
_NUMPY = {DType.F32: np.float32, DType.F16: np.float16, DType.F8_E4M3FN: np.uint8, DType.F8_E5M2: np.uint8,
          DType.E8M0: np.uint8, DType.FP4_E2M1X2: np.uint8, DType.I32: np.int32, DType.I64: np.int64,
          DType.U8: np.uint8, DType.U32: np.uint32}


def _torch_dtype(torch, dtype):
    table = {DType.F32: torch.float32, DType.F16: torch.float16, DType.BF16: torch.bfloat16,
             DType.I32: torch.int32, DType.I64: torch.int64, DType.U8: torch.uint8,
             DType.F8_E4M3FN: torch.uint8, DType.F8_E5M2: torch.uint8, DType.E8M0: torch.uint8,
             DType.FP4_E2M1X2: torch.uint8}
    return table.get(dtype)


def empty(like_bound, like_obj, dtype, shape, name):
    """An uninitialised output of `dtype` and `shape` in the memory where `like_obj` lives."""
    shape = tuple(int(s) for s in shape)
    torch = sys.modules.get("torch")
    if not like_bound.on_cpu or (dtype == DType.BF16 and torch is not None):
        if torch is not None and isinstance(like_obj, torch.Tensor) and _torch_dtype(torch, dtype) is not None:
            return torch.empty(shape, dtype=_torch_dtype(torch, dtype), device=like_obj.device)
        where = "device memory" if not like_bound.on_cpu else DType(dtype).name.lower()
        raise InvalidArgumentError(f"{name}: moekit cannot allocate an output for {where} here; pass {name}=")
    np_dtype = _NUMPY.get(dtype)
    if np_dtype is None:
        raise InvalidArgumentError(f"{name}: NumPy has no {DType(dtype).name.lower()} type; pass {name}= "
                                   f"(e.g. a torch tensor)")
    return np.empty(shape, dtype=np_dtype)


def aligned_workspace(nbytes, alignment):
    """A host byte buffer of at least `nbytes` whose address is a multiple of `alignment` (None if 0 bytes)."""
    if nbytes == 0:
        return None
    alignment = max(int(alignment), 1)
    raw = np.empty(nbytes + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset:offset + nbytes]
