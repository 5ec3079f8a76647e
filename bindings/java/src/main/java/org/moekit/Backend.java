package org.moekit;

/** Where a Context runs (moekit_backend); AUTO picks CUDA, then HIP, then CPU. Codes are the C values, in order. */
public enum Backend {
  AUTO, CPU, CUDA, HIP;

  /** The C enum value. */
  public int code() {
    return ordinal();
  }
}
