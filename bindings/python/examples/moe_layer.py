"""One Mixture-of-Experts layer with moekit from Python: route tokens to experts, run them, check the result.

    pip install ./bindings/python     # from the repository root
    python bindings/python/examples/moe_layer.py
"""
import numpy as np

import moekit

tokens, num_experts, top_k, hidden_size, intermediate_size = 16, 8, 2, 64, 128
rng = np.random.default_rng(0)
hidden = rng.standard_normal((tokens, hidden_size)).astype(np.float32)
logits = rng.standard_normal((tokens, num_experts)).astype(np.float32)
# w13 stacks each expert's gate and up projections; w2 is the down projection.
w13 = (rng.standard_normal((num_experts, 2 * intermediate_size, hidden_size)) * 0.1).astype(np.float32)
w2 = (rng.standard_normal((num_experts, hidden_size, intermediate_size)) * 0.1).astype(np.float32)

with moekit.Context("cpu") as ctx, \
        ctx.router(num_experts=num_experts, top_k=top_k, renormalize=True) as router, \
        ctx.experts(num_experts=num_experts, hidden_size=hidden_size, intermediate_size=intermediate_size,
                    activation="silu_mul", weight_format="f32") as experts:
    experts.set_weights(w13, w2)
    out = moekit.moe_forward(router, experts, hidden, logits)  # a NumPy array [tokens, hidden_size]
    plan = router.route(logits)                                 # the routing plan, for a look
    print(f"moekit {moekit.__version__}: out {out.shape} {out.dtype}, kernel {experts.last_report.kernel}")
    print("token 0 went to experts", plan.topk_ids[0], "with weights", plan.topk_weights[0])

    # FP8 per-token quantization of the activations, and back.
    with ctx.quantizer("fp8_per_token") as quantizer:
        values, scales = quantizer.quantize(hidden)
        restored = quantizer.dequantize(values, scales)
    print(f"fp8 round trip: max relative error {np.max(np.abs(restored - hidden) / np.abs(hidden).max()):.4f}")

# The same layer in float64 NumPy, to show what moekit computed.
expected = np.zeros((tokens, hidden_size))
for t in range(tokens):
    for e, w in zip(plan.topk_ids[t], plan.topk_weights[t]):
        gate_up = w13[e].astype(np.float64) @ hidden[t]
        gate, up = gate_up[:intermediate_size], gate_up[intermediate_size:]
        expected[t] += w * (w2[e] @ (gate / (1 + np.exp(-gate)) * up))
error = np.max(np.abs(out - expected))
print(f"max |moekit - numpy| = {error:.2e}")
raise SystemExit(0 if error < 1e-4 else 1)
