"""PyTorch tensors on a GPU through DLPack. Skipped only where torch.cuda is unavailable (CI has no GPU).

With moekit's CUDA backend available, the layer runs on the GPU and must match the CPU result; without it,
the CUDA tensors must still reach the library zero-copy and be rejected by a CPU context naming the device."""
import numpy as np
import pytest

import moekit

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch.cuda is not available")


def _layer_inputs(rng, tokens=9, num_experts=8, hidden=64, inter=64):
    return (rng.standard_normal((tokens, hidden)).astype(np.float32),
            rng.standard_normal((tokens, num_experts)).astype(np.float32),
            (rng.standard_normal((num_experts, 2 * inter, hidden)) * 0.1).astype(np.float32),
            (rng.standard_normal((num_experts, hidden, inter)) * 0.1).astype(np.float32))


def _run(ctx, hidden, logits, w13, w2, out=None):
    num_experts, hidden_size, inter = w2.shape[0], w2.shape[1], w2.shape[2]
    with ctx.router(num_experts=num_experts, top_k=2, renormalize=True) as router, \
         ctx.experts(num_experts=num_experts, hidden_size=hidden_size, intermediate_size=inter,
                     weight_format="f32") as experts:
        experts.set_weights(w13, w2)
        return moekit.moe_forward(router, experts, hidden, logits, out=out)


def test_cuda_tensors_through_dlpack(rng):
    hidden, logits, w13, w2 = _layer_inputs(rng)
    with moekit.Context("cpu") as cpu:
        expected = _run(cpu, hidden, logits, w13, w2)
    dev = torch.device("cuda", 0)
    t_hidden, t_logits = torch.from_numpy(hidden).to(dev), torch.from_numpy(logits).to(dev)
    t_out = torch.full(hidden.shape, 7.0, device=dev)
    bound = moekit._tensors.bind(moekit._native, t_hidden, "hidden")
    assert bound.address == t_hidden.data_ptr() and bound.device_type == moekit.DeviceType.CUDA

    if moekit.backend_info("cuda").available:
        with moekit.Context("cuda", 0) as gpu:
            out = _run(gpu, t_hidden, t_logits, torch.from_numpy(w13).to(dev), torch.from_numpy(w2).to(dev),
                       out=t_out)
            torch.cuda.synchronize()
        assert out is t_out
        # Same f32 math, different accumulation order on the device: a few f32 ulps of the sums.
        np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-4, atol=1e-5)
    else:
        with moekit.Context("cpu") as cpu:
            out_cpu = np.full(hidden.shape, 7.0, dtype=np.float32)
            with pytest.raises(moekit.InvalidArgumentError) as excinfo:
                _run(cpu, t_hidden, logits, w13, w2, out=out_cpu)  # only hidden is on the GPU
        assert str(excinfo.value) == moekit._native.moekit_last_error()
        assert str(excinfo.value).startswith("hidden:") and "cuda:0" in str(excinfo.value), str(excinfo.value)
        assert (out_cpu == 7.0).all()  # untouched
