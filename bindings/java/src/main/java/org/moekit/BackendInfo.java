package org.moekit;

import org.moekit.jni.MoekitNative;

/** What a backend is and, if unavailable, why (moekit_backend_info). */
public record BackendInfo(Backend backend, boolean available, int deviceCount, String name, String detail) {
  /** Describes one backend. */
  public static BackendInfo query(Backend backend) {
    NativeLibrary.load();
    org.moekit.jni.BackendInfo info = new org.moekit.jni.BackendInfo();
    try {
      Native.check(MoekitNative.moekit_backend_query(backend.code(), info));
      return new BackendInfo(Backend.values()[info.getBackend()], info.getAvailable() != 0,
          info.getDevice_count(), info.getName(), info.getDetail());
    } finally {
      info.delete();
    }
  }
}
