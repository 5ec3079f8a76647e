package org.moekit;

import org.moekit.jni.MoekitNative;
import org.moekit.jni.QuantizerDesc;
import org.moekit.jni.QuantizerHandle;
import org.moekit.jni.Values;

/** FP8 / MXFP4 quantize and dequantize of [M,K] activations. AutoCloseable. */
public final class Quantizer implements AutoCloseable {
  private QuantizerHandle handle;
  private final QuantScheme scheme;

  /** groupSize: FP8_PER_GROUP group / FP8_BLOCK edge (0 = 128). */
  public Quantizer(Context ctx, QuantScheme scheme, int groupSize) {
    NativeLibrary.load();
    QuantizerDesc desc = new QuantizerDesc();
    try {
      desc.setScheme(scheme.code());
      desc.setGroup_size(groupSize);
      handle = Native.created(MoekitNative.mkb_quantizer_create(ctx.handle(), desc));
    } finally {
      desc.delete();
    }
    this.scheme = scheme;
  }

  synchronized QuantizerHandle handle() {
    return handle;
  }

  @Override
  public synchronized void close() {
    if (handle != null) {
      handle.delete();
      handle = null;
    }
  }

  public DType valuesDType() {
    return scheme == QuantScheme.MXFP4 ? DType.FP4_E2M1X2 : DType.F8_E4M3FN;
  }

  public DType scalesDType() {
    return scheme == QuantScheme.MXFP4 ? DType.E8M0 : DType.F32;
  }

  /** {values rows, values cols, scales rows, scales cols} of quantizing a [rows, cols] input. */
  public long[] outputShapes(long rows, long cols) {
    Values v = new Values();
    try {
      Native.check(MoekitNative.mkb_quantizer_output_shapes(handle(), rows, cols, v));
      return new long[] {v.getA(), v.getB(), v.getC(), v.getD()};
    } finally {
      v.delete();
    }
  }

  /** input [M,K] (f32/bf16/f16) -> values and scales (caller-allocated; see outputShapes). */
  public void quantize(Tensor input, Tensor values, Tensor scales) {
    try (Bindings b = new Bindings()) {
      Native.check(MoekitNative.mkb_quantize(handle(), b.address(input), b.desc(input), b.address(values),
          b.desc(values), b.address(scales), b.desc(scales), 0));
    }
  }

  /** values + scales -> out [M,K] (f32/bf16/f16). */
  public void dequantize(Tensor values, Tensor scales, Tensor out) {
    try (Bindings b = new Bindings()) {
      Native.check(MoekitNative.mkb_dequantize(handle(), b.address(values), b.desc(values), b.address(scales),
          b.desc(scales), b.address(out), b.desc(out), 0));
    }
  }
}
