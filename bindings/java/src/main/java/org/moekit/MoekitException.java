package org.moekit;

/**
 * A failed moekit call: the status and the library's message (which names the offending argument). Unchecked,
 * like the IllegalArgumentException family it refines.
 */
public class MoekitException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final Status status;
  private final int code;

  public MoekitException(int code, String message) {
    super(message);
    this.status = Status.of(code);
    this.code = code;
  }

  /** The status of the failed call. */
  public Status status() {
    return status;
  }

  /** The raw status code (useful when status() is UNKNOWN). */
  public int code() {
    return code;
  }
}
