package org.moekit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** A whole MoE layer on the CPU backend against the shared vectors and a float64 reference. */
class MoeLayerTest {
  static List<Vectors> layerCases() throws IOException {
    return Vectors.cases("moe_layer");
  }

  static List<Vectors> routerCases() throws IOException {
    return Vectors.cases("router");
  }

  @ParameterizedTest
  @MethodSource("layerCases")
  void matchesSharedVectors(Vectors c) throws IOException {
    int e = (int) c.num("num_experts");
    int k = (int) c.num("top_k");
    try (Context ctx = Context.cpu();
        Router router = new Router(ctx, new RouterConfig(e, k)
            .scoring(Scoring.valueOf(c.str("scoring").toUpperCase())).renormalize(c.flag("renormalize")));
        Experts experts = new Experts(ctx, new ExpertsConfig(e, (long) c.num("hidden_size"),
            (long) c.num("intermediate_size"))
            .activation(Activation.valueOf(c.str("activation").toUpperCase()))
            .swiglu((float) c.num("swiglu_alpha"), (float) c.num("swiglu_limit"))
            .weightFormat(WeightFormat.valueOf(c.str("weight_format").toUpperCase()))
            .biases(c.flag("biases"), c.flag("biases")))) {
      ExpertWeights w = new ExpertWeights(c.tensor("w13"), c.tensor("w2"));
      w.w13Scale = c.has("w13_scale") ? c.tensor("w13_scale") : null;
      w.w2Scale = c.has("w2_scale") ? c.tensor("w2_scale") : null;
      w.w13Bias = c.has("w13_bias") ? c.tensor("w13_bias") : null;
      w.w2Bias = c.has("w2_bias") ? c.tensor("w2_bias") : null;
      experts.setWeights(w);
      long[] hs = c.shape("hidden");
      Tensor out = Tensor.allocate(DType.F32, hs);
      RunReport report = MoE.forward(router, experts, c.tensor("hidden"), c.tensor("logits"), out);
      float[] got = out.toFloatArray();
      float[] want = c.floats("out");
      for (int i = 0; i < want.length; i++) {
        assertTrue(Math.abs(got[i] - want[i]) <= c.tolerance, "out[" + i + "] = " + got[i] + ", want " + want[i]);
      }
      assertEquals(hs[0] * k, report.assignments());
      RoutingPlan plan = router.route(c.tensor("logits"));
      assertArrayEquals(c.ints("topk_ids"), plan.topkIds.toIntArray());
    }
  }

  @ParameterizedTest
  @MethodSource("routerCases")
  void routerMatchesSharedVectors(Vectors c) throws IOException {
    RouterConfig cfg = new RouterConfig((int) c.num("num_experts"), (int) c.num("top_k"))
        .scoring(Scoring.valueOf(c.str("scoring").toUpperCase())).renormalize(c.flag("renormalize"))
        .groups((int) c.num("num_expert_groups"), (int) c.num("topk_groups"))
        .routedScalingFactor((float) c.num("routed_scaling_factor"))
        .correctionBias(c.has("correction_bias") ? c.floats("correction_bias") : null);
    try (Context ctx = Context.cpu(); Router router = new Router(ctx, cfg)) {
      RoutingPlan plan = router.route(c.tensor("logits"));
      assertArrayEquals(c.ints("topk_ids"), plan.topkIds.toIntArray());
      assertArrayEquals(c.floats("topk_weights"), plan.topkWeights.toFloatArray(), (float) c.tolerance);
    }
  }

  /** float64 reference of a softmax (renormalized) + SiLU layer with f32 weights, written from moekit.h. */
  static double[] reference(float[] x, float[] logits, float[] w13, float[] w2, int t, int e, int k, int h,
      int inter) {
    double[] out = new double[t * h];
    for (int tok = 0; tok < t; tok++) {
      double max = Double.NEGATIVE_INFINITY;
      for (int j = 0; j < e; j++) max = Math.max(max, logits[tok * e + j]);
      double[] p = new double[e];
      for (int j = 0; j < e; j++) p[j] = Math.exp(logits[tok * e + j] - max);
      boolean[] taken = new boolean[e];
      int[] chosen = new int[k];
      double total = 0;
      for (int s = 0; s < k; s++) { // top-k, ties to the lowest id
        int best = -1;
        for (int j = 0; j < e; j++) if (!taken[j] && (best < 0 || p[j] > p[best])) best = j;
        taken[best] = true;
        chosen[s] = best;
        total += p[best];
      }
      for (int ex : chosen) {
        double weight = p[ex] / total;
        double[] act = new double[inter];
        for (int i = 0; i < inter; i++) {
          double gate = 0, up = 0;
          for (int j = 0; j < h; j++) {
            gate += (double) w13[(ex * 2 * inter + i) * h + j] * x[tok * h + j];
            up += (double) w13[(ex * 2 * inter + inter + i) * h + j] * x[tok * h + j];
          }
          act[i] = gate / (1 + Math.exp(-gate)) * up;
        }
        for (int j = 0; j < h; j++) {
          double y = 0;
          for (int i = 0; i < inter; i++) y += (double) w2[(ex * h + j) * inter + i] * act[i];
          out[tok * h + j] += weight * y;
        }
      }
    }
    return out;
  }

  static float[] random(Random rng, int n, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (rng.nextGaussian() * scale);
    return a;
  }

  @Test
  void matchesFloat64Reference() {
    int t = 9, e = 8, k = 2, h = 48, inter = 40;
    Random rng = new Random(11);
    float[] x = random(rng, t * h, 1), logits = random(rng, t * e, 1);
    float[] w13 = random(rng, e * 2 * inter * h, 1 / Math.sqrt(h));
    float[] w2 = random(rng, e * h * inter, 1 / Math.sqrt(inter));
    try (Context ctx = Context.cpu();
        Router router = new Router(ctx, new RouterConfig(e, k).renormalize(true));
        Experts experts = new Experts(ctx, new ExpertsConfig(e, h, inter).weightFormat(WeightFormat.F32))) {
      experts.setWeights(new ExpertWeights(Tensor.ofFloats(w13, e, 2 * inter, h), Tensor.ofFloats(w2, e, h, inter)));
      Tensor out = Tensor.allocate(DType.F32, t, h);
      MoE.forward(router, experts, Tensor.ofFloats(x, t, h), Tensor.ofFloats(logits, t, e), out);
      RoutingPlan plan = router.route(Tensor.ofFloats(logits, t, e));
      Tensor out2 = Tensor.allocate(DType.F32, t, h);
      experts.run(Tensor.ofFloats(x, t, h), plan, out2);
      double[] want = reference(x, logits, w13, w2, t, e, k, h, inter);
      float[] a = out.toFloatArray(), b = out2.toFloatArray();
      // f32 accumulation over H + I products: relative error ~1e-6; 2e-5 relative + 2e-6 absolute is ~10x it.
      for (int i = 0; i < want.length; i++) {
        double tol = 2e-5 * Math.abs(want[i]) + 2e-6;
        assertTrue(Math.abs(a[i] - want[i]) <= tol, "out[" + i + "] = " + a[i] + ", want " + want[i]);
        assertTrue(Math.abs(b[i] - want[i]) <= tol, "run out[" + i + "] = " + b[i] + ", want " + want[i]);
      }
    }
  }
}
