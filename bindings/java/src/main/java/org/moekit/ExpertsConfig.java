package org.moekit;

/** Expert runner configuration (moekit_experts_desc), set fluently. */
public final class ExpertsConfig {
  final int numExperts;
  final long hiddenSize;
  final long intermediateSize;
  int numLocalExperts = -1;
  Activation activation = Activation.SILU_MUL;
  float swigluAlpha = 1.702f;
  float swigluLimit = 7.0f;
  WeightFormat weightFormat = WeightFormat.BF16;
  ActQuant actQuant = ActQuant.NONE;
  boolean hasW13Bias;
  boolean hasW2Bias;
  boolean applyRouterWeightOnInput;
  int[] expertMap;

  public ExpertsConfig(int numExperts, long hiddenSize, long intermediateSize) {
    this.numExperts = numExperts;
    this.hiddenSize = hiddenSize;
    this.intermediateSize = intermediateSize;
  }

  public ExpertsConfig numLocalExperts(int n) {
    numLocalExperts = n;
    return this;
  }

  public ExpertsConfig activation(Activation a) {
    activation = a;
    return this;
  }

  public ExpertsConfig swiglu(float alpha, float limit) {
    swigluAlpha = alpha;
    swigluLimit = limit;
    return this;
  }

  public ExpertsConfig weightFormat(WeightFormat f) {
    weightFormat = f;
    return this;
  }

  public ExpertsConfig actQuant(ActQuant q) {
    actQuant = q;
    return this;
  }

  public ExpertsConfig biases(boolean w13, boolean w2) {
    hasW13Bias = w13;
    hasW2Bias = w2;
    return this;
  }

  public ExpertsConfig applyRouterWeightOnInput(boolean b) {
    applyRouterWeightOnInput = b;
    return this;
  }

  public ExpertsConfig expertMap(int[] map) {
    expertMap = map == null ? null : map.clone();
    return this;
  }
}
