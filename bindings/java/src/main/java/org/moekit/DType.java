package org.moekit;

/** The element type of a tensor (moekit_dtype). FP8, E8M0 and FP4 (two values per byte) travel as raw bytes. Codes are the C values, in order. */
public enum DType {
  F32, F16, BF16, F8_E4M3FN, F8_E5M2, E8M0, FP4_E2M1X2, I32, I64, U8, U32;

  /** The C enum value. */
  public int code() {
    return ordinal();
  }

  /** Bytes per element (1 for FP4_E2M1X2, which packs two values), from the library. */
  public long size() {
    NativeLibrary.load();
    return org.moekit.jni.MoekitNative.moekit_dtype_size(code());
  }
}
