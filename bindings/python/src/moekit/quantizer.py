"""moekit.Quantizer: FP8 (per tensor / token / group / block) and MXFP4 quantize and dequantize.

NumPy has no FP8/FP4/E8M0 types, so those come back as uint8 arrays of their raw encodings (FP4: two values
per byte, low nibble first); pass them back to dequantize() as they are. Torch float8 tensors work too."""
from . import _native_module as _nm
from ._alloc import empty
from ._handle import OwnedHandle, check, created, stream_address
from ._tensors import bind
from .enums import DType, QuantScheme, coerce


class Quantizer(OwnedHandle):
    def __init__(self, ctx, scheme="fp8_per_token", group_size=0):
        native = _nm.native
        desc = native.QuantizerDesc()
        self.scheme = coerce(QuantScheme, scheme, "scheme")
        desc.scheme = int(self.scheme)
        desc.group_size = int(group_size)
        super().__init__(created(native.mkb_quantizer_create(ctx._handle, desc)))
        self.context = ctx

    @property
    def values_dtype(self):
        return DType.FP4_E2M1X2 if self.scheme == QuantScheme.MXFP4 else DType.F8_E4M3FN

    @property
    def scales_dtype(self):
        return DType.E8M0 if self.scheme == QuantScheme.MXFP4 else DType.F32

    def output_shapes(self, rows, cols):
        """(values_shape, scales_shape) of quantizing a [rows, cols] input."""
        values = _nm.native.Values()
        check(_nm.native.mkb_quantizer_output_shapes(self._handle, int(rows), int(cols), values))
        return (int(values.a), int(values.b)), (int(values.c), int(values.d))

    def quantize(self, x, values=None, scales=None, stream=None):
        """x [M,K] (f32/bf16/f16) -> (values, scales). Outputs are allocated when not given."""
        native = _nm.native
        xb = bind(native, x, "input", stream=stream)
        if values is None or scales is None:
            if len(xb.shape) == 2:
                values_shape, scales_shape = self.output_shapes(*xb.shape)
            else:  # the library names the bad input shape; these placeholders are never written
                values_shape, scales_shape = (0, 0), (0, 0)
            if values is None:
                values = empty(xb, x, self.values_dtype, values_shape, "values")
            if scales is None:
                scales = empty(xb, x, self.scales_dtype, scales_shape, "scales")
        vb = bind(native, values, "values", dtype=self.values_dtype, writable=True, stream=stream)
        sb = bind(native, scales, "scales", dtype=self.scales_dtype, writable=True, stream=stream)
        check(native.mkb_quantize(self._handle, xb.address, xb.desc, vb.address, vb.desc, sb.address, sb.desc,
                                  stream_address(stream)))
        return values, scales

    def dequantize(self, values, scales, out=None, dtype="f32", stream=None):
        """values + scales -> out [M,K] of `dtype` (f32/f16/bf16; allocated when not given)."""
        native = _nm.native
        vb = bind(native, values, "values", dtype=self.values_dtype, stream=stream)
        sb = bind(native, scales, "scales", dtype=self.scales_dtype, stream=stream)
        if out is None:
            rows = vb.shape[0] if vb.shape else 0
            cols = vb.shape[1] if len(vb.shape) == 2 else 0
            if self.values_dtype == DType.FP4_E2M1X2:
                cols *= 2
            out = empty(vb, values, coerce(DType, dtype, "dtype"), (rows, cols), "out")
        ob = bind(native, out, "out", writable=True, stream=stream)
        check(native.mkb_dequantize(self._handle, vb.address, vb.desc, sb.address, sb.desc, ob.address, ob.desc,
                                    stream_address(stream)))
        return out
