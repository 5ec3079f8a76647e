package org.moekit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.moekit.jni.MoekitNative;

/** Error paths: a MoekitException with the status and the library's message; outputs left untouched. */
class ErrorsTest {
  static final int T = 5, E = 4, H = 32;
  static final byte SENTINEL = 0x5A;
  Context ctx;
  Router router;
  Experts experts;

  @BeforeEach
  void layer() {
    ctx = Context.cpu();
    router = new Router(ctx, new RouterConfig(E, 2).renormalize(true));
    experts = new Experts(ctx, new ExpertsConfig(E, H, H).weightFormat(WeightFormat.F32));
    experts.setWeights(new ExpertWeights(Tensor.allocate(DType.F32, E, 2 * H, H), Tensor.allocate(DType.F32, E, H, H)));
  }

  @AfterEach
  void close() {
    experts.close();
    router.close();
    ctx.close();
  }

  static Tensor sentinel(DType dtype, long... shape) {
    Tensor t = Tensor.allocate(dtype, shape);
    ByteBuffer b = t.bytes();
    while (b.hasRemaining()) b.put(SENTINEL);
    return t;
  }

  static void assertUntouched(Tensor t) {
    ByteBuffer b = t.bytes();
    while (b.hasRemaining()) assertEquals(SENTINEL, b.get(), "output written by a failed call");
  }

  /** The exception has `status`, the library's message, naming `argument` first. */
  static void assertLibraryError(MoekitException e, Status status, String argument) {
    assertEquals(status, e.status());
    assertEquals(MoekitNative.moekit_last_error(), e.getMessage());
    assertTrue(e.getMessage().startsWith(argument + ":"), e.getMessage());
  }

  @Test
  void badDTypeLeavesOutputUntouched() {
    Tensor out = sentinel(DType.I32, T, H);
    MoekitException e = assertThrows(MoekitException.class, () -> MoE.forward(router, experts,
        Tensor.allocate(DType.I32, T, H), Tensor.allocate(DType.F32, T, E), out));
    assertLibraryError(e, Status.INVALID_ARGUMENT, "hidden");
    assertTrue(e.getMessage().contains("int32"));
    assertUntouched(out);
  }

  @Test
  void badShapeLeavesPlanUntouched() {
    RoutingPlan plan = new RoutingPlan(sentinel(DType.F32, T, 2), sentinel(DType.I32, T, 2));
    MoekitException e = assertThrows(MoekitException.class,
        () -> router.route(Tensor.allocate(DType.F32, T, E + 1), plan));
    assertLibraryError(e, Status.INVALID_ARGUMENT, "logits");
    assertUntouched(plan.topkWeights);
    assertUntouched(plan.topkIds);
  }

  @Test
  void wrongDeviceIsRejectedByTheLibrary() {
    Tensor out = sentinel(DType.F32, T, H);
    // A device address the CPU context must reject without dereferencing it.
    Tensor onGpu = Tensor.onDevice(0x10000L, DType.F32, DeviceType.CUDA, 0, T, H);
    MoekitException e = assertThrows(MoekitException.class,
        () -> MoE.forward(router, experts, onGpu, Tensor.allocate(DType.F32, T, E), out));
    assertLibraryError(e, Status.INVALID_ARGUMENT, "hidden");
    assertTrue(e.getMessage().toLowerCase().contains("cuda"), e.getMessage());
    assertUntouched(out);
  }

  @Test
  void closedHandleAndCloseTwice() {
    router.close();
    router.close(); // a no-op
    Tensor out = sentinel(DType.F32, T, H);
    MoekitException e = assertThrows(MoekitException.class, () -> MoE.forward(router, experts,
        Tensor.allocate(DType.F32, T, H), Tensor.allocate(DType.F32, T, E), out));
    assertLibraryError(e, Status.INVALID_ARGUMENT, "router");
    assertUntouched(out);
  }

  @Test
  void closedContextCannotCreate() {
    Context closed = Context.cpu();
    closed.close();
    MoekitException e = assertThrows(MoekitException.class,
        () -> new Quantizer(closed, QuantScheme.FP8_PER_TOKEN, 0));
    assertLibraryError(e, Status.INVALID_ARGUMENT, "ctx");
  }

  @Test
  void badConfigFromTheFactory() {
    MoekitException e = assertThrows(MoekitException.class, () -> new Router(ctx, new RouterConfig(E, E + 1)));
    assertEquals(Status.INVALID_ARGUMENT, e.status());
    assertTrue(e.getMessage().contains("top_k"), e.getMessage());
    MoekitException bias = assertThrows(MoekitException.class,
        () -> new Router(ctx, new RouterConfig(E, 1).correctionBias(new float[E - 1])));
    assertTrue(bias.getMessage().startsWith("correction_bias:"), bias.getMessage());
  }

  @Test
  void heapAndShortBuffersAreRejected() {
    MoekitException heap = assertThrows(MoekitException.class,
        () -> Tensor.of(ByteBuffer.allocate(64), DType.F32, 16));
    assertEquals(Status.INVALID_ARGUMENT, heap.status());
    assertTrue(heap.getMessage().contains("direct"));
    MoekitException small = assertThrows(MoekitException.class,
        () -> Tensor.of(ByteBuffer.allocateDirect(60), DType.F32, 16));
    assertTrue(small.getMessage().contains("64 bytes"), small.getMessage());
  }

  @Test
  void unavailableBackend() {
    assumeFalse(BackendInfo.query(Backend.CUDA).available(), "a CUDA backend is available here");
    MoekitException e = assertThrows(MoekitException.class, () -> new Context(Backend.CUDA, 0));
    assertEquals(Status.BACKEND_UNAVAILABLE, e.status());
    assertEquals(MoekitNative.moekit_last_error(), e.getMessage());
  }

  @Test
  void loaderReportsWhereItLoadedFrom() {
    assertTrue(NativeLibrary.loadedFrom() != null);
    assertEquals(1, MoekitNative.moekit_abi_version());
  }
}
