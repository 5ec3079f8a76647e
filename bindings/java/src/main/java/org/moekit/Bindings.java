package org.moekit;

import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.List;
import org.moekit.jni.MoekitNative;
import org.moekit.jni.TensorDesc;

/**
 * The descriptors and addresses of one call's tensors. Closing it (after the call) frees the C descriptors and
 * keeps every buffer reachable until then, so the garbage collector cannot free memory the call uses.
 */
final class Bindings implements AutoCloseable {
  private final List<TensorDesc> descs = new ArrayList<>();
  private final List<Object> keep = new ArrayList<>();

  /** The tensor's descriptor (null for an absent tensor). */
  TensorDesc desc(Tensor t) {
    if (t == null) return null;
    TensorDesc d = new TensorDesc(t.dtype.code(), t.shape.length, t.device.code(), t.deviceId);
    descs.add(d);
    long stride = 1;
    for (int axis = t.shape.length - 1; axis >= 0; axis--) {
      d.set_dim(axis, t.shape[axis], stride);
      if (t.shape[axis] > 0) stride *= t.shape[axis];
    }
    return d;
  }

  /** The tensor's first byte: a direct buffer's address plus its position, or the device address. */
  long address(Tensor t) {
    if (t == null) return 0;
    if (t.buffer == null) return t.address;
    keep.add(t.buffer);
    long base = MoekitNative.mkb_direct_buffer_address(t.buffer);
    return base == 0 ? 0 : base + t.buffer.position();
  }

  @Override
  public void close() {
    for (TensorDesc d : descs) d.delete();
    descs.clear();
    Reference.reachabilityFence(keep);
  }
}
