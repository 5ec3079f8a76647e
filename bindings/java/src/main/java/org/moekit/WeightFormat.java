package org.moekit;

/** The format of expert weights (moekit_weight_format). Codes are the C values, in order. */
public enum WeightFormat {
  BF16, F16, F32, FP8_BLOCK, MXFP4;

  /** The C enum value. */
  public int code() {
    return ordinal();
  }
}
