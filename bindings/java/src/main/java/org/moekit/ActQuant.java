package org.moekit;

/** Quantization of the expert GEMM inputs (moekit_act_quant). Codes are the C values, in order. */
public enum ActQuant {
  NONE, FP8_PER_TOKEN, FP8_PER_GROUP;

  /** The C enum value. */
  public int code() {
    return ordinal();
  }
}
