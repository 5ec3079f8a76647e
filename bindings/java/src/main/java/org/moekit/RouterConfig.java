package org.moekit;

/** Router configuration (moekit_router_desc), set fluently: {@code new RouterConfig(8, 2).renormalize(true)}. */
public final class RouterConfig {
  final int numExperts;
  final int topK;
  Scoring scoring = Scoring.SOFTMAX;
  boolean renormalize;
  int numExpertGroups;
  int topkGroups;
  float routedScalingFactor = 1.0f;
  float[] correctionBias;
  int[] expertMap;
  int blockSize;

  public RouterConfig(int numExperts, int topK) {
    this.numExperts = numExperts;
    this.topK = topK;
  }

  public RouterConfig scoring(Scoring s) {
    scoring = s;
    return this;
  }

  public RouterConfig renormalize(boolean r) {
    renormalize = r;
    return this;
  }

  /** DeepSeek-V3 grouping: `groups` equal groups, the best `topkGroups` of them eligible. */
  public RouterConfig groups(int groups, int topkGroups) {
    this.numExpertGroups = groups;
    this.topkGroups = topkGroups;
    return this;
  }

  public RouterConfig routedScalingFactor(float f) {
    routedScalingFactor = f;
    return this;
  }

  /** numExperts values added to the scores for selection only (copied at creation). */
  public RouterConfig correctionBias(float[] bias) {
    correctionBias = bias == null ? null : bias.clone();
    return this;
  }

  /** Global expert id -> local id, -1 = not local (numExperts values). */
  public RouterConfig expertMap(int[] map) {
    expertMap = map == null ? null : map.clone();
    return this;
  }

  public RouterConfig blockSize(int b) {
    blockSize = b;
    return this;
  }
}
