package org.moekit;

/** Where memory lives (DLPack's device numbering). */
public enum DeviceType {
  CPU(1), CUDA(2), ROCM(10);

  private final int code;

  DeviceType(int code) {
    this.code = code;
  }

  public int code() {
    return code;
  }
}
