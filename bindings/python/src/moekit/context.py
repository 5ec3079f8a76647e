"""moekit.Context: a backend and device, the thing every other object is created on."""
from dataclasses import dataclass

from . import _native_module as _nm
from ._alloc import empty
from ._handle import OwnedHandle, check, created, stream_address
from ._tensors import ABSENT, bind
from .enums import Backend, DType, coerce


@dataclass(frozen=True)
class PlatformContract:
    """Block sizes, alignments and paddings of the context's backend (moekit_platform_contract)."""

    block_size_m: int
    hidden_align: int
    intermediate_align: int
    buffer_align_bytes: int
    mx_block: int
    fp8_block: int


@dataclass(frozen=True)
class BackendInfo:
    backend: Backend
    available: bool
    device_count: int
    name: str
    detail: str


def backend_info(backend):
    """What a backend is and, if unavailable, why (never raises for a known backend)."""
    native = _nm.native
    info = native.BackendInfo()
    check(native.moekit_backend_query(int(coerce(Backend, backend, "backend")), info))
    return BackendInfo(Backend(info.backend), bool(info.available), info.device_count, info.name, info.detail)


class Context(OwnedHandle):
    """A context on `backend` ("auto", "cpu", "cuda", "hip") and device `device_id`.

    Use it as a context manager, or call close(). Objects created from it keep working after it is closed
    (they share the underlying context)."""

    def __init__(self, backend="auto", device_id=0):
        backend = coerce(Backend, backend, "backend")
        super().__init__(created(_nm.native.mkb_context_create(int(backend), int(device_id))))

    @property
    def backend(self):
        values = _nm.native.Values()
        check(_nm.native.mkb_context_get_backend(self._handle, values))
        return Backend(values.a)

    @property
    def device_id(self):
        values = _nm.native.Values()
        check(_nm.native.mkb_context_get_backend(self._handle, values))
        return int(values.b)

    @property
    def num_threads(self):
        values = _nm.native.Values()
        check(_nm.native.mkb_context_get_num_threads(self._handle, values))
        return int(values.a)

    @num_threads.setter
    def num_threads(self, n):
        check(_nm.native.moekit_context_set_num_threads(self._handle, int(n)))

    def platform_contract(self):
        c = _nm.native.PlatformContract()
        check(_nm.native.moekit_context_platform_contract(self._handle, c))
        return PlatformContract(c.block_size_m, c.hidden_align, c.intermediate_align, c.buffer_align_bytes,
                                c.mx_block, c.fp8_block)

    def padded_sizes(self, hidden, intermediate):
        """(hidden_pad, intermediate_pad) the expert runner uses."""
        values = _nm.native.Values()
        check(_nm.native.mkb_context_padded_sizes(self._handle, int(hidden), int(intermediate), values))
        return int(values.a), int(values.b)

    def router_gemm(self, hidden, w_gate, bias=None, out=None, stream=None):
        """logits[T,E] (f32) = hidden[T,H] @ w_gate[E,H]^T (+ bias[E]). Returns `out` (allocated if None)."""
        native = _nm.native
        h = bind(native, hidden, "hidden", stream=stream)
        w = bind(native, w_gate, "w_gate", stream=stream)
        b = bind(native, bias, "bias", stream=stream) if bias is not None else ABSENT
        if out is None:
            rows = h.shape[0] if h.shape else 0
            experts = w.shape[0] if w.shape else 0
            out = empty(h, hidden, DType.F32, (rows, experts), "out")
        o = bind(native, out, "out", writable=True, stream=stream)
        check(native.mkb_router_gemm(self._handle, h.address, h.desc, w.address, w.desc, b.address, b.desc,
                                     o.address, o.desc, stream_address(stream)))
        return out

    # Factories, for `with ctx.router(...) as router:`.
    def router(self, **kwargs):
        from .router import Router
        return Router(self, **kwargs)

    def quantizer(self, scheme="fp8_per_token", group_size=0):
        from .quantizer import Quantizer
        return Quantizer(self, scheme, group_size)

    def experts(self, **kwargs):
        from .experts import Experts
        return Experts(self, **kwargs)
