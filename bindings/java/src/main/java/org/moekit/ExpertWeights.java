package org.moekit;

/** Per-local-expert weights (moekit_expert_weights); null fields are unused. */
public final class ExpertWeights {
  public Tensor w13;
  public Tensor w2;
  public Tensor w13Scale;
  public Tensor w2Scale;
  public Tensor w13Bias;
  public Tensor w2Bias;

  public ExpertWeights(Tensor w13, Tensor w2) {
    this.w13 = w13;
    this.w2 = w2;
  }
}
