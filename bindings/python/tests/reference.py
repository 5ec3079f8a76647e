"""An independent float64 NumPy reference of a MoE layer and of the FP8 / MXFP4 codecs, written from the
descriptions in moekit.h (it shares no code with the library)."""
import math

import numpy as np


# ---- router --------------------------------------------------------------------------------------------------
def route(logits, top_k, scoring="softmax", renormalize=False, scaling=1.0, bias=None):
    """topk_ids [T,k] (ties to the lowest id: a stable sort) and topk_weights [T,k] in float64."""
    x = np.asarray(logits, dtype=np.float64)
    if scoring == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        scores = e / e.sum(axis=1, keepdims=True)
    else:
        scores = 1.0 / (1.0 + np.exp(-x))
    select = scores + (0.0 if bias is None else np.asarray(bias, dtype=np.float64))
    ids = np.argsort(-select, axis=1, kind="stable")[:, :top_k]
    weights = np.take_along_axis(scores, ids, axis=1)
    if renormalize:
        weights = weights / weights.sum(axis=1, keepdims=True)
    return ids.astype(np.int32), weights * scaling


# ---- experts -------------------------------------------------------------------------------------------------
def _silu(x):
    return x / (1.0 + np.exp(-x))


_erf = np.vectorize(math.erf)


def activate(gate, up, activation, alpha=1.702, limit=7.0):
    if activation == "silu_mul":
        return _silu(gate) * up
    if activation == "gelu_mul":
        return 0.5 * gate * (1.0 + _erf(gate / math.sqrt(2.0))) * up
    if activation == "swiglu_oai":
        g = np.minimum(gate, limit)
        u = np.clip(up, -limit, limit)
        return g / (1.0 + np.exp(-alpha * g)) * (u + 1.0)
    raise ValueError(activation)


def experts(hidden, ids, weights, w13, w2, activation, w13_bias=None, w2_bias=None):
    """out[t] = sum_j weights[t,j] * (w2[e] @ act(w13[e] @ hidden[t] + b13) + b2), e = ids[t,j]."""
    h = np.asarray(hidden, dtype=np.float64)
    w13 = np.asarray(w13, dtype=np.float64)
    w2 = np.asarray(w2, dtype=np.float64)
    inter = w2.shape[2]
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        for j in range(ids.shape[1]):
            e = int(ids[t, j])
            y = w13[e] @ h[t] + (0.0 if w13_bias is None else w13_bias[e])
            a = activate(y[:inter], y[inter:], activation)
            out[t] += weights[t, j] * (w2[e] @ a + (0.0 if w2_bias is None else w2_bias[e]))
    return out


# ---- codecs --------------------------------------------------------------------------------------------------
def _e4m3_table():
    """Values of FP8 E4M3FN codes 0..126 (the positive finite ones; 127 is NaN)."""
    vals = []
    for code in range(127):
        exp, man = code >> 3, code & 7
        vals.append(man / 8.0 * 2.0 ** -6 if exp == 0 else (1.0 + man / 8.0) * 2.0 ** (exp - 7))
    return np.array(vals)


E4M3 = _e4m3_table()
E2M1 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


def _round_to_table(mag, table):
    """Index of the nearest table value to each magnitude, ties to the even code; saturates at the top."""
    mag = np.minimum(mag, table[-1])
    hi = np.clip(np.searchsorted(table, mag, side="left"), 0, len(table) - 1)
    lo = np.clip(hi - 1, 0, len(table) - 1)
    d_lo, d_hi = mag - table[lo], table[hi] - mag
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    return np.where(pick_hi, hi, lo)


def fp8_encode(x):
    """E4M3FN codes (uint8) of float64 values, round to nearest even, saturating to ±448, NaN -> 0x7F."""
    x = np.asarray(x, dtype=np.float64)
    codes = _round_to_table(np.abs(np.nan_to_num(x, nan=0.0, posinf=448.0, neginf=-448.0)), E4M3)
    codes = codes.astype(np.uint8) | np.where(np.signbit(x), 0x80, 0).astype(np.uint8)
    return np.where(np.isnan(x), np.uint8(0x7F), codes).astype(np.uint8)


def fp8_decode(codes):
    codes = np.asarray(codes, dtype=np.uint8)
    mag = codes & 0x7F
    v = np.where(mag == 0x7F, np.nan, E4M3[np.minimum(mag, 126)])
    return np.where(codes & 0x80, -v, v)


def fp4_decode(packed):
    """[..., n] bytes -> [..., 2n] float64: low nibble first."""
    packed = np.asarray(packed, dtype=np.uint8)
    nib = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(*packed.shape[:-1], -1)
    v = E2M1[nib & 7]
    return np.where(nib & 8, -v, v)


def e8m0_decode(codes):
    codes = np.asarray(codes, dtype=np.int64)
    return np.where(codes == 0xFF, np.nan, np.exp2(codes - 127.0))


def quantize_fp8_rows(x):
    """Per-token FP8: (codes, scales[M,1]) with scale = max(amax/448, 1/(448*512)) in float32 arithmetic."""
    x = np.asarray(x, dtype=np.float32)
    finite = np.where(np.isfinite(x), np.abs(x), 0.0)
    amax = finite.max(axis=1, keepdims=True).astype(np.float32)
    scales = np.maximum(amax * np.float32(1.0 / 448.0), np.float32(1.0 / (448.0 * 512.0))).astype(np.float32)
    return fp8_encode(x.astype(np.float32) / scales), scales


def quantize_mxfp4_rows(x):
    """MXFP4: (packed codes [M,K/2], e8m0 scales [M,K/32]) for finite inputs."""
    x = np.asarray(x, dtype=np.float64)
    m, k = x.shape
    blocks = x.reshape(m, k // 32, 32)
    amax = np.abs(blocks).max(axis=2)
    _, e = np.frexp(amax)  # amax = m * 2^e with m in [0.5, 1): floor(log2(amax)) = e - 1, exactly
    exp = np.where(amax > 0, (e - 1) - 2, -127)
    exp = np.clip(exp, -127, 127)
    scaled = blocks / np.exp2(exp)[:, :, None]
    codes = _round_to_table(np.abs(scaled), E2M1) | np.where(np.signbit(scaled), 8, 0)
    codes = codes.reshape(m, k).astype(np.uint8)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
    return packed, (exp + 127).astype(np.uint8)
