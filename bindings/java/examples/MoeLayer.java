// One Mixture-of-Experts layer with moekit from Java: route tokens to experts, run them, check the result.
//
//   bindings/java/build.sh <moekit prefix> build/java
//   java -cp build/java/moekit.jar bindings/java/examples/MoeLayer.java
import java.util.Random;
import org.moekit.Context;
import org.moekit.DType;
import org.moekit.ExpertWeights;
import org.moekit.Experts;
import org.moekit.ExpertsConfig;
import org.moekit.MoE;
import org.moekit.MoekitException;
import org.moekit.Router;
import org.moekit.RouterConfig;
import org.moekit.RoutingPlan;
import org.moekit.RunReport;
import org.moekit.Tensor;
import org.moekit.WeightFormat;

public class MoeLayer {
  public static void main(String[] args) {
    int tokens = 16, numExperts = 8, topK = 2, hidden = 64, inter = 128;
    Random rng = new Random(0);
    float[] x = gaussian(rng, tokens * hidden, 1), logits = gaussian(rng, tokens * numExperts, 1);
    // w13 stacks each expert's gate and up projections; w2 is the down projection.
    float[] w13 = gaussian(rng, numExperts * 2 * inter * hidden, 0.1);
    float[] w2 = gaussian(rng, numExperts * hidden * inter, 0.1);

    try (Context ctx = Context.cpu();
        Router router = new Router(ctx, new RouterConfig(numExperts, topK).renormalize(true));
        Experts experts = new Experts(ctx, new ExpertsConfig(numExperts, hidden, inter)
            .weightFormat(WeightFormat.F32))) {
      experts.setWeights(new ExpertWeights(Tensor.ofFloats(w13, numExperts, 2 * inter, hidden),
          Tensor.ofFloats(w2, numExperts, hidden, inter)));
      Tensor out = Tensor.allocate(DType.F32, tokens, hidden); // a direct buffer the library writes into
      RunReport report = MoE.forward(router, experts, Tensor.ofFloats(x, tokens, hidden),
          Tensor.ofFloats(logits, tokens, numExperts), out);
      System.out.println("moekit " + Context.version() + ": kernel " + report.kernel() + ", "
          + report.assignments() + " assignments");

      // Check against a plain-Java computation of the same layer, using the router's choices.
      RoutingPlan plan = router.route(Tensor.ofFloats(logits, tokens, numExperts));
      int[] ids = plan.topkIds.toIntArray();
      float[] weights = plan.topkWeights.toFloatArray(), got = out.toFloatArray();
      double worst = 0;
      for (int t = 0; t < tokens; t++) {
        double[] expected = new double[hidden];
        for (int j = 0; j < topK; j++) {
          int e = ids[t * topK + j];
          double[] act = new double[inter];
          for (int i = 0; i < inter; i++) {
            double gate = 0, up = 0;
            for (int h = 0; h < hidden; h++) {
              gate += (double) w13[(e * 2 * inter + i) * hidden + h] * x[t * hidden + h];
              up += (double) w13[(e * 2 * inter + inter + i) * hidden + h] * x[t * hidden + h];
            }
            act[i] = gate / (1 + Math.exp(-gate)) * up;
          }
          for (int h = 0; h < hidden; h++) {
            double y = 0;
            for (int i = 0; i < inter; i++) y += (double) w2[(e * hidden + h) * inter + i] * act[i];
            expected[h] += weights[t * topK + j] * y;
          }
        }
        for (int h = 0; h < hidden; h++) worst = Math.max(worst, Math.abs(got[t * hidden + h] - expected[h]));
      }
      System.out.printf("max |moekit - reference| = %.2e%n", worst);

      // Failures throw MoekitException with the status and the library's message.
      try {
        MoE.forward(router, experts, Tensor.ofFloats(x, tokens, hidden), Tensor.allocate(DType.F32, tokens, 3), out);
      } catch (MoekitException e) {
        System.out.println("expected failure: " + e.status() + ": " + e.getMessage());
      }
      if (worst > 1e-4) System.exit(1);
    }
  }

  static float[] gaussian(Random rng, int n, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (rng.nextGaussian() * scale);
    return a;
  }
}
