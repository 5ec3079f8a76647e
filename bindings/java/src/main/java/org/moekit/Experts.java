package org.moekit;

import java.nio.ByteBuffer;
import org.moekit.jni.ExpertsDesc;
import org.moekit.jni.ExpertsHandle;
import org.moekit.jni.MoekitNative;
import org.moekit.jni.Values;

/** Runs the expert MLPs of a MoE layer. AutoCloseable. */
public final class Experts implements AutoCloseable {
  private ExpertsHandle handle;
  private final boolean hostWorkspace; // the workspace lives where the backend computes
  private final int align;

  public Experts(Context ctx, ExpertsConfig cfg) {
    NativeLibrary.load();
    hostWorkspace = ctx.backend() == Backend.CPU;
    align = ctx.platformContract().bufferAlignBytes();
    ByteBuffer map = Router.hostCopy(cfg.expertMap, cfg.numExperts, "expert_map");
    ExpertsDesc desc = new ExpertsDesc();
    try {
      desc.setNum_experts(cfg.numExperts);
      desc.setNum_local_experts(cfg.numLocalExperts < 0 ? cfg.numExperts : cfg.numLocalExperts);
      desc.setHidden_size(cfg.hiddenSize);
      desc.setIntermediate_size(cfg.intermediateSize);
      desc.setActivation(cfg.activation.code());
      desc.setSwiglu_alpha(cfg.swigluAlpha);
      desc.setSwiglu_limit(cfg.swigluLimit);
      desc.setWeight_format(cfg.weightFormat.code());
      desc.setAct_quant(cfg.actQuant.code());
      desc.setHas_w13_bias(cfg.hasW13Bias ? 1 : 0);
      desc.setHas_w2_bias(cfg.hasW2Bias ? 1 : 0);
      desc.setApply_router_weight_on_input(cfg.applyRouterWeightOnInput ? 1 : 0);
      handle = Native.created(MoekitNative.mkb_experts_create(ctx.handle(), desc, Router.address(map)));
    } finally {
      desc.delete();
      java.lang.ref.Reference.reachabilityFence(map);
    }
  }

  synchronized ExpertsHandle handle() {
    return handle;
  }

  @Override
  public synchronized void close() {
    if (handle != null) {
      handle.delete();
      handle = null;
    }
  }

  /** Copies the weights into the runner's layout (the buffers may be reused afterwards). */
  public void setWeights(ExpertWeights w) {
    try (Bindings b = new Bindings()) {
      Native.check(MoekitNative.mkb_experts_set_weights(handle(), b.address(w.w13), b.desc(w.w13),
          b.address(w.w2), b.desc(w.w2), b.address(w.w13Scale), b.desc(w.w13Scale), b.address(w.w2Scale),
          b.desc(w.w2Scale), b.address(w.w13Bias), b.desc(w.w13Bias), b.address(w.w2Bias), b.desc(w.w2Bias),
          0));
    }
  }

  public long workspaceSize(long numTokens, int topK) {
    Values v = new Values();
    try {
      Native.check(MoekitNative.mkb_experts_workspace_size(handle(), numTokens, topK, v));
      return v.getA();
    } finally {
      v.delete();
    }
  }

  /** A workspace of `bytes` for this runner: an aligned direct buffer on CPU contexts, else null. */
  Tensor workspace(long bytes) {
    if (bytes == 0 || !hostWorkspace) return null; // on a device the caller passes one (the library names it)
    if (bytes + align > Integer.MAX_VALUE) throw Native.invalid("workspace: " + bytes + " bytes is too large");
    ByteBuffer raw = ByteBuffer.allocateDirect((int) (bytes + align));
    long base = MoekitNative.mkb_direct_buffer_address(raw);
    int offset = align > 0 ? (int) ((align - base % align) % align) : 0;
    raw.position(offset);
    return Tensor.of(raw.slice(), DType.U8, bytes);
  }

  static long bytes(Tensor t) {
    return t == null ? 0 : Tensor.elements(t.shape) * t.dtype.size();
  }

  /** out[T,H] = sum_j w[t,j] * expert_{ids[t,j]}(hidden[t]) with a workspace allocated here (CPU). */
  public RunReport run(Tensor hidden, RoutingPlan plan, Tensor out) {
    long tokens = hidden.shape.length > 0 ? hidden.shape[0] : 0;
    int topK = plan.topkIds != null && plan.topkIds.shape.length == 2 ? (int) plan.topkIds.shape[1] : 0;
    return run(hidden, plan, out, workspace(workspaceSize(tokens, topK)));
  }

  /** The same with the caller's workspace (workspaceSize bytes, aligned to bufferAlignBytes). */
  public RunReport run(Tensor hidden, RoutingPlan plan, Tensor out, Tensor workspace) {
    org.moekit.jni.RunReport report = new org.moekit.jni.RunReport();
    try (Bindings b = new Bindings()) {
      Tensor[] f = plan.fields();
      Native.check(MoekitNative.mkb_experts_run(handle(), b.address(hidden), b.desc(hidden), b.address(f[0]),
          b.desc(f[0]), b.address(f[1]), b.desc(f[1]), b.address(f[2]), b.desc(f[2]), b.address(f[3]),
          b.desc(f[3]), b.address(f[4]), b.desc(f[4]), b.address(f[5]), b.desc(f[5]), b.address(f[6]),
          b.desc(f[6]), b.address(out), b.desc(out), b.address(workspace), bytes(workspace), report, 0));
      return RunReport.of(report);
    } finally {
      report.delete();
    }
  }
}
