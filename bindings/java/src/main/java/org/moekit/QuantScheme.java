package org.moekit;

/** A quantizer's format (moekit_quant_scheme). Codes are the C values, in order. */
public enum QuantScheme {
  FP8_PER_TENSOR, FP8_PER_TOKEN, FP8_PER_GROUP, FP8_BLOCK, MXFP4;

  /** The C enum value. */
  public int code() {
    return ordinal();
  }
}
