package org.moekit;

/**
 * The buffers of a routing plan (moekit_routing); a null field is skipped. topkWeights [T,k] f32, topkIds
 * [T,k] i32, bitmatrix [T, ceil(E/32)] u32, expertCounts [E] i32, sortedTokenIds [max_sorted] i32,
 * blockExpertIds [max_blocks] i32, numTokensPostPadded [1] i32.
 */
public final class RoutingPlan {
  public Tensor topkWeights;
  public Tensor topkIds;
  public Tensor bitmatrix;
  public Tensor expertCounts;
  public Tensor sortedTokenIds;
  public Tensor blockExpertIds;
  public Tensor numTokensPostPadded;

  /** An empty plan (fill the fields you need). */
  public RoutingPlan() {}

  /** A plan of just the top-k weights and ids (what the expert runner needs). */
  public RoutingPlan(Tensor topkWeights, Tensor topkIds) {
    this.topkWeights = topkWeights;
    this.topkIds = topkIds;
  }

  Tensor[] fields() {
    return new Tensor[] {topkWeights, topkIds, bitmatrix, expertCounts, sortedTokenIds, blockExpertIds,
      numTokensPostPadded};
  }
}
