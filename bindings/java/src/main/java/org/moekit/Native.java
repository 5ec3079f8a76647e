package org.moekit;

import org.moekit.jni.MoekitNative;

/** Status checking shared by every call: a failure becomes a MoekitException with the library's message. */
final class Native {
  private Native() {}

  static void check(int status) {
    if (status != 0) throw new MoekitException(status, MoekitNative.moekit_last_error());
  }

  /** A factory's result (null on failure, status in mkb_last_status). */
  static <H> H created(H handle) {
    if (handle == null) throw new MoekitException(MoekitNative.mkb_last_status(), MoekitNative.moekit_last_error());
    return handle;
  }

  static MoekitException invalid(String message) {
    return new MoekitException(Status.INVALID_ARGUMENT.code(), message);
  }
}
