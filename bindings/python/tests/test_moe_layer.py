"""A whole MoE layer (router + experts) on the CPU backend, against the shared test vectors and against the
NumPy float64 reference in reference.py."""
import numpy as np
import pytest

import moekit
import reference
from conftest import load_vector_cases


@pytest.mark.parametrize("case,tensors", load_vector_cases("moe_layer"))
def test_moe_layer_matches_shared_vectors(ctx, case, tensors):
    p = case["params"]
    with ctx.router(num_experts=p["num_experts"], top_k=p["top_k"], scoring=p["scoring"],
                    renormalize=p["renormalize"]) as router, \
         ctx.experts(num_experts=p["num_experts"], hidden_size=p["hidden_size"],
                     intermediate_size=p["intermediate_size"], activation=p["activation"],
                     swiglu_alpha=p["swiglu_alpha"], swiglu_limit=p["swiglu_limit"],
                     weight_format=p["weight_format"], has_w13_bias=p["biases"],
                     has_w2_bias=p["biases"]) as experts:
        # bf16 / fp4 / e8m0 weights arrive as raw uint16 / uint8 arrays: the weight format says what they are.
        experts.set_weights(tensors["w13"], tensors["w2"], w13_scale=tensors.get("w13_scale"),
                            w2_scale=tensors.get("w2_scale"), w13_bias=tensors.get("w13_bias"),
                            w2_bias=tensors.get("w2_bias"))
        out = moekit.moe_forward(router, experts, tensors["hidden"], tensors["logits"])
        plan = router.route(tensors["logits"])
    np.testing.assert_array_equal(plan.topk_ids, tensors["topk_ids"])
    np.testing.assert_allclose(plan.topk_weights, tensors["topk_weights"], rtol=0, atol=1e-6)
    assert out.dtype == np.float32 and out.shape == tensors["out"].shape
    np.testing.assert_allclose(out, tensors["out"], rtol=0, atol=case["tolerance"])
    assert experts.last_report.assignments == tensors["topk_ids"].size


@pytest.mark.parametrize("case,tensors", load_vector_cases("router"))
def test_router_matches_shared_vectors(ctx, case, tensors):
    p = case["params"]
    with ctx.router(num_experts=p["num_experts"], top_k=p["top_k"], scoring=p["scoring"],
                    renormalize=p["renormalize"], num_expert_groups=p["num_expert_groups"],
                    topk_groups=p["topk_groups"], routed_scaling_factor=p["routed_scaling_factor"],
                    correction_bias=tensors.get("correction_bias")) as router:
        plan = router.route(tensors["logits"])
    np.testing.assert_array_equal(plan.topk_ids, tensors["topk_ids"])
    np.testing.assert_allclose(plan.topk_weights, tensors["topk_weights"], rtol=0, atol=case["tolerance"])


# Random layers against the float64 reference. f32 weights and activations: each output sums H + I products
# accumulated in f32 (relative error a few 1e-7 * sqrt(n)), so rtol 2e-5 / atol 2e-6 is ~10x the expected
# error yet far below any real bug (a wrong expert or weight changes outputs by O(0.1)).
@pytest.mark.parametrize("activation", ["silu_mul", "gelu_mul", "swiglu_oai"])
@pytest.mark.parametrize("scoring,renormalize", [("softmax", True), ("softmax", False), ("sigmoid", True)])
def test_moe_layer_matches_numpy_reference(ctx, rng, activation, scoring, renormalize):
    tokens, num_experts, top_k, hidden, inter = 13, 8, 3, 48, 40
    hidden_states = rng.standard_normal((tokens, hidden)).astype(np.float32)
    logits = rng.standard_normal((tokens, num_experts)).astype(np.float32)
    w13 = (rng.standard_normal((num_experts, 2 * inter, hidden)) / np.sqrt(hidden)).astype(np.float32)
    w2 = (rng.standard_normal((num_experts, hidden, inter)) / np.sqrt(inter)).astype(np.float32)
    with ctx.router(num_experts=num_experts, top_k=top_k, scoring=scoring, renormalize=renormalize) as router, \
         ctx.experts(num_experts=num_experts, hidden_size=hidden, intermediate_size=inter,
                     activation=activation, weight_format="f32") as experts:
        experts.set_weights(w13, w2)
        out = moekit.moe_forward(router, experts, hidden_states, logits)
        plan = router.route(logits)
        out_from_plan = experts.run(hidden_states, plan)
    ids, weights = reference.route(logits, top_k, scoring, renormalize)
    np.testing.assert_array_equal(plan.topk_ids, ids)
    np.testing.assert_allclose(plan.topk_weights, weights, rtol=1e-6, atol=1e-7)
    expected = reference.experts(hidden_states, ids, weights, w13, w2, activation)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(out_from_plan, expected, rtol=2e-5, atol=2e-6)
    # The plan's metadata agrees with its ids.
    counts = np.bincount(ids.ravel(), minlength=num_experts)
    np.testing.assert_array_equal(plan.expert_counts, counts)
    for e in range(num_experts):
        rows = (plan.bitmatrix[:, e // 32] >> np.uint32(e % 32)) & 1
        np.testing.assert_array_equal(rows.astype(bool), (ids == e).any(axis=1))


def test_f16_layer_writes_into_caller_output(ctx, rng):
    """f16 hidden/out; the caller's `out` is written in place (the returned object is the caller's)."""
    tokens, num_experts, top_k, hidden, inter = 7, 4, 2, 32, 32
    hidden_states = rng.standard_normal((tokens, hidden)).astype(np.float16)
    logits = rng.standard_normal((tokens, num_experts)).astype(np.float32)
    w13 = (rng.standard_normal((num_experts, 2 * inter, hidden)) / np.sqrt(hidden)).astype(np.float16)
    w2 = (rng.standard_normal((num_experts, hidden, inter)) / np.sqrt(inter)).astype(np.float16)
    out = np.full((tokens, hidden), np.nan, dtype=np.float16)
    with ctx.router(num_experts=num_experts, top_k=top_k, renormalize=True) as router, \
         ctx.experts(num_experts=num_experts, hidden_size=hidden, intermediate_size=inter,
                     weight_format="f16") as experts:
        experts.set_weights(w13, w2)
        result = moekit.moe_forward(router, experts, hidden_states, logits, out=out)
    assert result is out
    ids, weights = reference.route(logits, top_k, "softmax", True)
    expected = reference.experts(hidden_states, ids, weights, w13, w2, "silu_mul")
    # The output is rounded to f16 (relative 2^-11) and intermediates may be too: allow a few f16 ulps.
    np.testing.assert_allclose(out.astype(np.float64), expected, rtol=4e-3, atol=4e-3)


def test_router_gemm_matches_numpy(ctx, rng):
    hidden = rng.standard_normal((9, 24)).astype(np.float32)
    w_gate = rng.standard_normal((6, 24)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    logits = ctx.router_gemm(hidden, w_gate, bias)
    expected = hidden.astype(np.float64) @ w_gate.astype(np.float64).T + bias
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
