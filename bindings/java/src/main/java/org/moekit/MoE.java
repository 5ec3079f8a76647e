package org.moekit;

import org.moekit.jni.MoekitNative;
import org.moekit.jni.Values;

/** One MoE layer in one call: route, then run the experts (moekit_moe_forward). */
public final class MoE {
  private MoE() {}

  public static long workspaceSize(Router router, Experts experts, long numTokens) {
    Values v = new Values();
    try {
      Native.check(MoekitNative.mkb_moe_forward_workspace_size(router.handle(), experts.handle(), numTokens, v));
      return v.getA();
    } finally {
      v.delete();
    }
  }

  /** Routes logits [T,E], runs the experts on hidden [T,H] into out [T,H] (workspace allocated here, CPU). */
  public static RunReport forward(Router router, Experts experts, Tensor hidden, Tensor logits, Tensor out) {
    long tokens = hidden.shape.length > 0 ? hidden.shape[0] : 0;
    return forward(router, experts, hidden, logits, out,
        experts.workspace(workspaceSize(router, experts, tokens)));
  }

  /** The same with the caller's workspace. */
  public static RunReport forward(Router router, Experts experts, Tensor hidden, Tensor logits, Tensor out,
      Tensor workspace) {
    org.moekit.jni.RunReport report = new org.moekit.jni.RunReport();
    try (Bindings b = new Bindings()) {
      Native.check(MoekitNative.mkb_moe_forward(router.handle(), experts.handle(), b.address(hidden),
          b.desc(hidden), b.address(logits), b.desc(logits), b.address(out), b.desc(out), b.address(workspace),
          Experts.bytes(workspace), report, 0));
      return RunReport.of(report);
    } finally {
      report.delete();
    }
  }
}
