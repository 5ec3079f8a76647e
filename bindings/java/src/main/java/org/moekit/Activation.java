package org.moekit;

/** The expert MLP's activation (moekit_activation). Codes are the C values, in order. */
public enum Activation {
  SILU_MUL, GELU_MUL, SWIGLU_OAI;

  /** The C enum value. */
  public int code() {
    return ordinal();
  }
}
