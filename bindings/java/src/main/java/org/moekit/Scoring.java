package org.moekit;

/** How the router scores experts (moekit_scoring). Codes are the C values, in order. */
public enum Scoring {
  SOFTMAX, SIGMOID;

  /** The C enum value. */
  public int code() {
    return ordinal();
  }
}
