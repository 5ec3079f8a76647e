package org.moekit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.Arrays;

/**
 * A description of memory the caller owns: a direct ByteBuffer (host memory, passed to the library without a
 * copy, starting at the buffer's position) or a {@code long} device address. Row-major and contiguous.
 */
public final class Tensor {
  final ByteBuffer buffer; // host memory, or null for device memory
  final long address; // device memory
  final DType dtype;
  final long[] shape;
  final DeviceType device;
  final int deviceId;

  private Tensor(ByteBuffer buffer, long address, DType dtype, long[] shape, DeviceType device, int deviceId) {
    this.buffer = buffer;
    this.address = address;
    this.dtype = dtype;
    this.shape = shape.clone();
    this.device = device;
    this.deviceId = deviceId;
  }

  /** Host memory: `buffer` must be direct and hold at least the shape's bytes from its position on. */
  public static Tensor of(ByteBuffer buffer, DType dtype, long... shape) {
    if (!buffer.isDirect()) {
      throw Native.invalid("buffer: must be a direct ByteBuffer (ByteBuffer.allocateDirect): a heap buffer has no "
          + "stable address");
    }
    long bytes = elements(shape) * dtype.size();
    if (bytes > buffer.remaining()) {
      // The library trusts shapes: a smaller buffer would be read or written past its end.
      throw Native.invalid("buffer: shape " + Arrays.toString(shape) + " of " + dtype + " needs " + bytes
          + " bytes, the buffer has " + buffer.remaining());
    }
    return new Tensor(buffer, 0, dtype, shape, DeviceType.CPU, 0);
  }

  /** A new zeroed host tensor (a direct buffer in the platform's byte order). */
  public static Tensor allocate(DType dtype, long... shape) {
    long bytes = elements(shape) * dtype.size();
    if (bytes > Integer.MAX_VALUE) throw Native.invalid("shape: " + bytes + " bytes is too large for a ByteBuffer");
    return of(ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder()), dtype, shape);
  }

  /** A host f32 tensor holding a copy of `values` (a convenience for small inputs). */
  public static Tensor ofFloats(float[] values, long... shape) {
    Tensor t = allocate(DType.F32, shape);
    t.floats().put(values);
    return t;
  }

  /** A host i32 tensor holding a copy of `values`. */
  public static Tensor ofInts(int[] values, long... shape) {
    Tensor t = allocate(DType.I32, shape);
    t.ints().put(values);
    return t;
  }

  /** Device memory at `address` (e.g. a cudaMalloc result) on (device, deviceId). */
  public static Tensor onDevice(long address, DType dtype, DeviceType device, int deviceId, long... shape) {
    elements(shape);
    return new Tensor(null, address, dtype, shape, device, deviceId);
  }

  static long elements(long[] shape) {
    long n = 1;
    for (long s : shape) {
      if (s < 0 || (s > 0 && n > (1L << 62) / s)) {
        throw Native.invalid("shape: " + Arrays.toString(shape) + " is negative or overflows");
      }
      n *= s;
    }
    return n;
  }

  public DType dtype() {
    return dtype;
  }

  public long[] shape() {
    return shape.clone();
  }

  public DeviceType device() {
    return device;
  }

  /** The host bytes, from the tensor's first byte, in the platform's byte order. */
  public ByteBuffer bytes() {
    if (buffer == null) throw new IllegalStateException("a device tensor has no host buffer");
    return buffer.duplicate().order(ByteOrder.nativeOrder());
  }

  public FloatBuffer floats() {
    return bytes().asFloatBuffer();
  }

  public IntBuffer ints() {
    return bytes().asIntBuffer();
  }

  public float[] toFloatArray() {
    float[] out = new float[(int) elements(shape)];
    floats().get(out);
    return out;
  }

  public int[] toIntArray() {
    int[] out = new int[(int) elements(shape)];
    ints().get(out);
    return out;
  }
}
