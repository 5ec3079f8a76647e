package org.moekit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.moekit.jni.MoekitNative;
import org.moekit.jni.RouterDesc;
import org.moekit.jni.RouterHandle;
import org.moekit.jni.Values;

/** Turns logits into routing plans. AutoCloseable (close() twice is fine). */
public final class Router implements AutoCloseable {
  private RouterHandle handle;
  private final int numExperts;
  private final int topK;

  public Router(Context ctx, RouterConfig cfg) {
    NativeLibrary.load();
    ByteBuffer bias = hostCopy(cfg.correctionBias, cfg.numExperts, "correction_bias");
    ByteBuffer map = hostCopy(cfg.expertMap, cfg.numExperts, "expert_map");
    RouterDesc desc = new RouterDesc();
    try {
      desc.setNum_experts(cfg.numExperts);
      desc.setTop_k(cfg.topK);
      desc.setScoring(cfg.scoring.code());
      desc.setRenormalize(cfg.renormalize ? 1 : 0);
      desc.setNum_expert_groups(cfg.numExpertGroups);
      desc.setTopk_groups(cfg.topkGroups);
      desc.setRouted_scaling_factor(cfg.routedScalingFactor);
      desc.setBlock_size(cfg.blockSize);
      handle = Native.created(MoekitNative.mkb_router_create(ctx.handle(), desc, address(bias), address(map)));
    } finally {
      desc.delete();
      java.lang.ref.Reference.reachabilityFence(bias);
      java.lang.ref.Reference.reachabilityFence(map);
    }
    numExperts = cfg.numExperts;
    topK = cfg.topK;
  }

  /** A direct copy of a host array the library reads `expected` values from (checked here: it cannot). */
  static ByteBuffer hostCopy(Object array, int expected, String name) {
    if (array == null) return null;
    int n = array instanceof float[] ? ((float[]) array).length : ((int[]) array).length;
    if (n != expected) throw Native.invalid(name + ": has " + n + " values, num_experts is " + expected);
    ByteBuffer b = ByteBuffer.allocateDirect(4 * Math.max(n, 1)).order(ByteOrder.nativeOrder());
    if (array instanceof float[]) b.asFloatBuffer().put((float[]) array);
    else b.asIntBuffer().put((int[]) array);
    return b;
  }

  static long address(ByteBuffer b) {
    return b == null ? 0 : MoekitNative.mkb_direct_buffer_address(b);
  }

  synchronized RouterHandle handle() {
    return handle;
  }

  @Override
  public synchronized void close() {
    if (handle != null) {
      handle.delete();
      handle = null;
    }
  }

  /** {block_size, max_sorted, max_blocks} for numTokens tokens. */
  public long[] planSizes(long numTokens) {
    Values v = new Values();
    try {
      Native.check(MoekitNative.mkb_router_plan_sizes(handle(), numTokens, v));
      return new long[] {v.getA(), v.getB(), v.getC()};
    } finally {
      v.delete();
    }
  }

  /** A full plan (with the sorted order) of new host buffers for numTokens tokens. */
  public RoutingPlan newPlan(long numTokens) {
    long[] sizes = planSizes(numTokens);
    RoutingPlan p = new RoutingPlan(Tensor.allocate(DType.F32, numTokens, topK),
        Tensor.allocate(DType.I32, numTokens, topK));
    p.bitmatrix = Tensor.allocate(DType.U32, numTokens, (numExperts + 31) / 32);
    p.expertCounts = Tensor.allocate(DType.I32, numExperts);
    p.sortedTokenIds = Tensor.allocate(DType.I32, sizes[1]);
    p.blockExpertIds = Tensor.allocate(DType.I32, sizes[2]);
    p.numTokensPostPadded = Tensor.allocate(DType.I32, 1);
    return p;
  }

  /** Routes logits [T,E] (f32/bf16/f16) into a new host plan. */
  public RoutingPlan route(Tensor logits) {
    RoutingPlan plan = newPlan(logits.shape.length > 0 ? logits.shape[0] : 0);
    route(logits, plan);
    return plan;
  }

  /** Routes logits [T,E] into the plan's buffers. */
  public void route(Tensor logits, RoutingPlan plan) {
    try (Bindings b = new Bindings()) {
      Tensor[] f = plan.fields();
      Native.check(MoekitNative.mkb_router_run(handle(), b.address(logits), b.desc(logits), b.address(f[0]),
          b.desc(f[0]), b.address(f[1]), b.desc(f[1]), b.address(f[2]), b.desc(f[2]), b.address(f[3]),
          b.desc(f[3]), b.address(f[4]), b.desc(f[4]), b.address(f[5]), b.desc(f[5]), b.address(f[6]),
          b.desc(f[6]), 0));
    }
  }

  /** Fills the plan's metadata (bitmatrix, counts, sorted order) from its caller-chosen topkIds. */
  public void buildPlan(RoutingPlan plan) {
    try (Bindings b = new Bindings()) {
      Tensor[] f = plan.fields();
      Native.check(MoekitNative.mkb_router_build_plan(handle(), b.address(f[0]), b.desc(f[0]), b.address(f[1]),
          b.desc(f[1]), b.address(f[2]), b.desc(f[2]), b.address(f[3]), b.desc(f[3]), b.address(f[4]),
          b.desc(f[4]), b.address(f[5]), b.desc(f[5]), b.address(f[6]), b.desc(f[6]), 0));
    }
  }
}
