"""Quantize / dequantize: bit-exact against the shared vectors and the NumPy codecs in reference.py, and
round trips whose error is bounded by the format."""
import numpy as np
import pytest

import moekit
import reference
from conftest import load_vector_cases


@pytest.mark.parametrize("case,tensors", load_vector_cases("quantize"))
def test_quantize_matches_shared_vectors(ctx, case, tensors):
    p = case["params"]
    with ctx.quantizer(p["scheme"], p["group_size"]) as q:
        values, scales = q.quantize(tensors["input"])
    assert case["tolerance"] == 0.0
    np.testing.assert_array_equal(values, tensors["values"])
    np.testing.assert_array_equal(scales.view(np.uint8), tensors["scales"].view(np.uint8))


def test_fp8_per_token_is_bit_exact_and_round_trips(ctx, rng):
    x = (rng.standard_normal((6, 200)) * np.logspace(-3, 3, 6)[:, None]).astype(np.float32)
    x[2] = 0.0  # an all-zero row uses the minimum scale
    with ctx.quantizer("fp8_per_token") as q:
        values, scales = q.quantize(x)
        y = q.dequantize(values, scales)
    codes, ref_scales = reference.quantize_fp8_rows(x)
    assert values.dtype == np.uint8 and values.shape == x.shape and scales.shape == (6, 1)
    np.testing.assert_array_equal(scales, ref_scales)
    np.testing.assert_array_equal(values, codes)
    # Dequantize is value * scale: exact in float64, then one float32 rounding.
    np.testing.assert_array_equal(y, (reference.fp8_decode(values) * scales).astype(np.float32))
    # E4M3 keeps 3 mantissa bits: relative error <= 2^-4 for normals, absolute <= 2^-10 * scale below them.
    bound = np.maximum(np.abs(x) * 2.0 ** -4, scales * 2.0 ** -10) * (1 + 1e-6)
    assert np.all(np.abs(y.astype(np.float64) - x) <= bound)


@pytest.mark.parametrize("scheme,group_size,scale_shape", [
    ("fp8_per_tensor", 0, (1, 1)), ("fp8_per_group", 64, (5, 4)), ("fp8_block", 128, (1, 2))])
def test_fp8_schemes_round_trip(ctx, rng, scheme, group_size, scale_shape):
    x = rng.standard_normal((5, 256)).astype(np.float32) * 7
    with ctx.quantizer(scheme, group_size) as q:
        assert q.output_shapes(5, 256) == ((5, 256), scale_shape)
        values, scales = q.quantize(x)
        y = q.dequantize(values, scales, dtype="f16")
    assert scales.shape == scale_shape and y.dtype == np.float16
    smax = scales.max()
    bound = np.maximum(np.abs(x) * (2.0 ** -4 + 2.0 ** -11), smax * 2.0 ** -10 + np.abs(x) * 2.0 ** -11)
    assert np.all(np.abs(y.astype(np.float64) - x) <= bound * (1 + 1e-6))


def test_mxfp4_is_bit_exact_and_round_trips(ctx, rng):
    x = rng.standard_normal((4, 128)).astype(np.float32) * 3
    with ctx.quantizer("mxfp4") as q:
        values, scales = q.quantize(x)
        y = q.dequantize(values, scales)
    packed, exps = reference.quantize_mxfp4_rows(x)
    assert values.shape == (4, 64) and scales.shape == (4, 4)
    np.testing.assert_array_equal(values, packed)
    np.testing.assert_array_equal(scales, exps)
    decoded = reference.fp4_decode(values) * np.repeat(reference.e8m0_decode(scales), 32, axis=1)
    np.testing.assert_array_equal(y, decoded.astype(np.float32))
    # Scaled by 2^X the block lies in [0, 8): rounding to E2M1 errs by at most half its widest step (4 -> 6:
    # 1 * 2^X), saturating to 6 by at most 8 - 6 = 2 * 2^X. So every value is within 2 * 2^X.
    unit = np.repeat(np.exp2(scales.astype(np.float64) - 127), 32, axis=1)
    assert np.all(np.abs(y - x) <= 2 * unit)


def test_quantize_into_caller_buffers(ctx, rng):
    """Outputs passed by the caller are written in place, including a torch-free bytearray for the values."""
    x = rng.standard_normal((2, 64)).astype(np.float32)
    values = bytearray(2 * 64)
    scales = np.zeros((2, 1), dtype=np.float32)
    with ctx.quantizer("fp8_per_token") as q:
        v, s = q.quantize(x, values=memoryview(values).cast("B", (2, 64)), scales=scales)
    assert s is scales
    codes, ref_scales = reference.quantize_fp8_rows(x)
    assert bytes(values) == codes.tobytes()
    np.testing.assert_array_equal(scales, ref_scales)
