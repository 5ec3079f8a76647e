package org.moekit;

import org.moekit.jni.ContextHandle;
import org.moekit.jni.MoekitNative;
import org.moekit.jni.Values;

/**
 * A backend and device; every other object is created on one. AutoCloseable: close() destroys the native
 * context (a second close() does nothing; calls on a closed context report the library's "null handle" error).
 * Objects created from it keep working after it is closed.
 */
public final class Context implements AutoCloseable {
  private ContextHandle handle;

  public Context(Backend backend, int deviceId) {
    NativeLibrary.load();
    handle = Native.created(MoekitNative.mkb_context_create(backend.code(), deviceId));
  }

  /** A context on the CPU backend. */
  public static Context cpu() {
    return new Context(Backend.CPU, 0);
  }

  /** The library's version string ("1.0.0"). */
  public static String version() {
    NativeLibrary.load();
    return MoekitNative.moekit_version_string();
  }

  synchronized ContextHandle handle() {
    return handle;
  }

  @Override
  public synchronized void close() {
    if (handle != null) {
      handle.delete();
      handle = null;
    }
  }

  public Backend backend() {
    Values v = new Values();
    try {
      Native.check(MoekitNative.mkb_context_get_backend(handle(), v));
      return Backend.values()[(int) v.getA()];
    } finally {
      v.delete();
    }
  }

  public int numThreads() {
    Values v = new Values();
    try {
      Native.check(MoekitNative.mkb_context_get_num_threads(handle(), v));
      return (int) v.getA();
    } finally {
      v.delete();
    }
  }

  public void setNumThreads(int n) {
    Native.check(MoekitNative.moekit_context_set_num_threads(handle(), n));
  }

  public PlatformContract platformContract() {
    org.moekit.jni.PlatformContract c = new org.moekit.jni.PlatformContract();
    try {
      Native.check(MoekitNative.moekit_context_platform_contract(handle(), c));
      return new PlatformContract(c.getBlock_size_m(), c.getHidden_align(), c.getIntermediate_align(),
          c.getBuffer_align_bytes(), c.getMx_block(), c.getFp8_block());
    } finally {
      c.delete();
    }
  }

  /** {hidden_pad, intermediate_pad} the expert runner uses. */
  public long[] paddedSizes(long hidden, long intermediate) {
    Values v = new Values();
    try {
      Native.check(MoekitNative.mkb_context_padded_sizes(handle(), hidden, intermediate, v));
      return new long[] {v.getA(), v.getB()};
    } finally {
      v.delete();
    }
  }

  /** logits[T,E] (f32) = hidden[T,H] @ wGate[E,H]^T (+ bias[E], or null). */
  public void routerGemm(Tensor hidden, Tensor wGate, Tensor bias, Tensor logits) {
    try (Bindings b = new Bindings()) {
      Native.check(MoekitNative.mkb_router_gemm(handle(), b.address(hidden), b.desc(hidden), b.address(wGate),
          b.desc(wGate), b.address(bias), b.desc(bias), b.address(logits), b.desc(logits), 0));
    }
  }
}
