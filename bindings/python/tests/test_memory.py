"""Zero-copy argument passing (DLPack and the buffer protocol), and the GIL being released while computing."""
import array
import threading
import time

import numpy as np
import pytest

import moekit
from moekit import _tensors
import reference


def bound(obj, **kw):
    return _tensors.bind(moekit._native, obj, "x", **kw)


def test_numpy_arrays_pass_their_own_memory():
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    for view in (a, a[1:], a[:, 2:]):
        b = bound(view)
        assert b.address == view.ctypes.data  # the array's memory itself, not a copy
        assert b.shape == view.shape and b.dtype == moekit.DType.F32
        assert tuple(b.desc.stride(i) for i in range(view.ndim)) == tuple(s // 4 for s in view.strides)


def test_buffer_protocol_objects_pass_their_own_memory():
    buf = bytearray(64)
    b = bound(buf)
    assert b.address == np.frombuffer(buf, dtype=np.uint8).ctypes.data and b.dtype == moekit.DType.U8
    arr = array.array("f", [1.0, 2.0, 3.0])
    assert bound(arr).dtype == moekit.DType.F32 and bound(arr).shape == (3,)
    frozen = np.frombuffer(bytes(np.arange(8, dtype=np.float32)), dtype=np.float32)  # read-only: no DLPack
    assert bound(frozen).address == frozen.ctypes.data


def test_raw_uint8_is_reinterpreted_only_as_one_byte_formats():
    raw = np.zeros(8, dtype=np.uint8)
    assert bound(raw, dtype=moekit.DType.F8_E4M3FN).dtype == moekit.DType.F8_E4M3FN
    assert bound(np.zeros(8, dtype=np.uint16), dtype=moekit.DType.BF16).dtype == moekit.DType.BF16
    # A real float32 array is never relabelled: the library will name the mismatch.
    assert bound(np.zeros(8, dtype=np.float32), dtype=moekit.DType.BF16).dtype == moekit.DType.F32


def test_read_only_input_works_end_to_end(ctx, rng):
    x = rng.standard_normal((3, 64)).astype(np.float32)
    frozen = np.frombuffer(x.tobytes(), dtype=np.float32).reshape(3, 64)
    assert not frozen.flags.writeable
    with ctx.quantizer("fp8_per_token") as q:
        values, scales = q.quantize(frozen)
    np.testing.assert_array_equal(values, reference.quantize_fp8_rows(x)[0])


def test_torch_cpu_tensors_pass_through_dlpack(ctx, rng):
    torch = pytest.importorskip("torch")
    logits = torch.from_numpy(rng.standard_normal((6, 8)).astype(np.float32))
    with ctx.router(num_experts=8, top_k=2) as router:
        plan = router.route(logits)
    assert bound(logits).address == logits.data_ptr()
    ids, _ = reference.route(logits.numpy(), 2)
    np.testing.assert_array_equal(plan.topk_ids, ids)


def test_gil_is_released_while_the_layer_computes(ctx, rng):
    """A Python thread keeps running while moe_forward computes: with the GIL held, its timestamps would
    show a gap as long as the call. The layer grows until one call takes long enough to tell (>= 0.1 s)."""
    num_experts, hidden, inter = 8, 1024, 1024
    with ctx.router(num_experts=num_experts, top_k=2) as router, \
         ctx.experts(num_experts=num_experts, hidden_size=hidden, intermediate_size=inter,
                     weight_format="f32") as experts:
        experts.set_weights(rng.standard_normal((num_experts, 2 * inter, hidden), dtype=np.float32),
                            rng.standard_normal((num_experts, hidden, inter), dtype=np.float32))
        stamps, stop = [], threading.Event()

        def ticker():
            while not stop.is_set():
                stamps.append(time.perf_counter())
                time.sleep(0.001)

        thread = threading.Thread(target=ticker)
        thread.start()
        try:
            tokens = 64
            while True:
                h = rng.standard_normal((tokens, hidden), dtype=np.float32)
                logits = rng.standard_normal((tokens, num_experts), dtype=np.float32)
                time.sleep(0.01)
                start = time.perf_counter()
                moekit.moe_forward(router, experts, h, logits)
                end = time.perf_counter()
                if end - start >= 0.1 or tokens >= 16384:
                    break
                tokens *= 4
        finally:
            stop.set()
            thread.join()
    duration = end - start
    assert duration >= 0.05, "the layer ran too fast to observe the GIL"
    inside = [start] + [t for t in stamps if start <= t <= end] + [end]
    largest_gap = max(b - a for a, b in zip(inside, inside[1:]))
    assert largest_gap < duration / 2, (largest_gap, duration)
