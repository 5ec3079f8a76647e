package org.moekit;

/** A moekit_status code. */
public enum Status {
  OK(0), INVALID_ARGUMENT(1), UNSUPPORTED(2), BACKEND_UNAVAILABLE(3), OUT_OF_MEMORY(4), DEVICE(5), INTERNAL(6),
  /** A code this binding does not know (a newer library); the number is in {@link MoekitException#code()}. */
  UNKNOWN(-1);

  final int code;

  Status(int code) {
    this.code = code;
  }

  public int code() {
    return code;
  }

  static Status of(int code) {
    for (Status s : values()) {
      if (s.code == code) return s;
    }
    return UNKNOWN;
  }
}
