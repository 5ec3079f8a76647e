package org.moekit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Quantize / dequantize: bit-exact against the shared vectors, and round trips within the format's bound. */
class QuantizeTest {
  static List<Vectors> cases() throws IOException {
    return Vectors.cases("quantize");
  }

  static byte[] bytesOf(Tensor t) {
    ByteBuffer b = t.bytes();
    byte[] out = new byte[(int) (Tensor.elements(t.shape) * t.dtype.size())];
    b.get(out);
    return out;
  }

  @ParameterizedTest
  @MethodSource("cases")
  void matchesSharedVectors(Vectors c) throws IOException {
    try (Context ctx = Context.cpu();
        Quantizer q = new Quantizer(ctx, QuantScheme.valueOf(c.str("scheme").toUpperCase()),
            (int) c.num("group_size"))) {
      Tensor values = Tensor.allocate(q.valuesDType(), c.shape("values"));
      Tensor scales = Tensor.allocate(q.scalesDType(), c.shape("scales"));
      q.quantize(c.tensor("input"), values, scales);
      assertEquals(0.0, c.tolerance);
      assertArrayEquals(c.raw("values"), bytesOf(values));
      assertArrayEquals(c.raw("scales"), bytesOf(scales));
    }
  }

  @Test
  void fp8PerTokenRoundTrip() {
    int m = 4, k = 160;
    float[] x = MoeLayerTest.random(new Random(3), m * k, 5);
    try (Context ctx = Context.cpu(); Quantizer q = new Quantizer(ctx, QuantScheme.FP8_PER_TOKEN, 0)) {
      long[] s = q.outputShapes(m, k);
      assertArrayEquals(new long[] {m, k, m, 1}, s);
      Tensor values = Tensor.allocate(DType.F8_E4M3FN, s[0], s[1]);
      Tensor scales = Tensor.allocate(DType.F32, s[2], s[3]);
      Tensor y = Tensor.allocate(DType.F32, m, k);
      q.quantize(Tensor.ofFloats(x, m, k), values, scales);
      q.dequantize(values, scales, y);
      float[] sc = scales.toFloatArray(), out = y.toFloatArray();
      for (int r = 0; r < m; r++) {
        float amax = 0;
        for (int i = r * k; i < (r + 1) * k; i++) amax = Math.max(amax, Math.abs(x[i]));
        assertEquals(amax * (1.0f / 448.0f), sc[r]); // scale = amax * (1/448), f32
        for (int i = r * k; i < (r + 1) * k; i++) {
          // E4M3: 3 mantissa bits -> relative error <= 2^-4; below the normals, absolute <= 2^-10 * scale.
          double bound = Math.max(Math.abs(x[i]) / 16.0, sc[r] / 1024.0) * (1 + 1e-6);
          assertTrue(Math.abs(out[i] - x[i]) <= bound, "y[" + i + "] = " + out[i] + ", x = " + x[i]);
        }
      }
    }
  }

  @Test
  void mxfp4RoundTrip() {
    int m = 3, k = 64;
    float[] x = MoeLayerTest.random(new Random(5), m * k, 2);
    try (Context ctx = Context.cpu(); Quantizer q = new Quantizer(ctx, QuantScheme.MXFP4, 0)) {
      Tensor values = Tensor.allocate(DType.FP4_E2M1X2, m, k / 2);
      Tensor scales = Tensor.allocate(DType.E8M0, m, k / 32);
      Tensor y = Tensor.allocate(DType.F32, m, k);
      q.quantize(Tensor.ofFloats(x, m, k), values, scales);
      q.dequantize(values, scales, y);
      byte[] sc = bytesOf(scales);
      float[] out = y.toFloatArray();
      for (int i = 0; i < x.length; i++) {
        // Scaled by 2^X a block lies in [0, 8): rounding errs <= 1 * 2^X, saturating to 6 <= 2 * 2^X.
        double unit = Math.pow(2, (sc[(i / k) * (k / 32) + (i % k) / 32] & 0xFF) - 127);
        assertTrue(Math.abs(out[i] - x[i]) <= 2 * unit, "y[" + i + "] = " + out[i] + ", x = " + x[i]);
      }
    }
  }
}
