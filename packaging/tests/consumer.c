/*
 * A program built against the installed libmoekit-dev, the way a user's program is: by pkg-config
 * (test_packaging.sh) and by find_package(moekit) (CMakeLists.txt here). It routes a few tokens on the CPU
 * backend and checks the answer against a top-k it computes itself, so a broken installed library fails here.
 */
#include <moekit/moekit.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { T = 3, E = 6, K = 2 };

static int fail(const char* what) {
  fprintf(stderr, "consumer: %s: %s\n", what, moekit_last_error());
  return 1;
}

int main(void) {
  if (moekit_abi_version() != MOEKIT_ABI_VERSION) {
    fprintf(stderr, "consumer: header ABI %d, library ABI %d\n", MOEKIT_ABI_VERSION, (int)moekit_abi_version());
    return 1;
  }
  moekit_context ctx;
  if (moekit_context_create(MOEKIT_BACKEND_CPU, 0, &ctx) != MOEKIT_OK) return fail("context_create");
  moekit_router_desc rd = MOEKIT_ROUTER_DESC_INIT;
  rd.num_experts = E;
  rd.top_k = K;
  rd.renormalize = 1;
  moekit_router router;
  if (moekit_router_create(ctx, &rd, &router) != MOEKIT_OK) return fail("router_create");

  float logits[T * E];
  for (int i = 0; i < T * E; ++i) logits[i] = (float)((i * 7) % 11) - 5.0f; /* distinct within each row */
  float weights[T * K];
  int32_t ids[T * K];
  const int64_t logits_shape[2] = {T, E}, topk_shape[2] = {T, K};
  moekit_routing plan;
  memset(&plan, 0, sizeof(plan)); /* optional outputs: data == NULL */
  plan.struct_size = sizeof(plan);
  moekit_tensor in;
  moekit_tensor_init(&in, logits, MOEKIT_DTYPE_F32, 2, logits_shape);
  moekit_tensor_init(&plan.topk_weights, weights, MOEKIT_DTYPE_F32, 2, topk_shape);
  moekit_tensor_init(&plan.topk_ids, ids, MOEKIT_DTYPE_I32, 2, topk_shape);
  if (moekit_router_run(router, &in, &plan, NULL) != MOEKIT_OK) return fail("router_run");

  int bad = 0;
  for (int t = 0; t < T; ++t) {
    const float* row = logits + t * E;
    int best = 0, second = -1;
    for (int e = 1; e < E; ++e)
      if (row[e] > row[best]) best = e;
    for (int e = 0; e < E; ++e)
      if (e != best && (second < 0 || row[e] > row[second])) second = e;
    /* renormalized softmax over the two chosen experts = logistic of the logit difference */
    const double w0 = 1.0 / (1.0 + exp((double)row[second] - (double)row[best]));
    if (ids[t * K] != best || ids[t * K + 1] != second || fabs(weights[t * K] - w0) > 1e-6 ||
        fabs(weights[t * K + 1] - (1.0 - w0)) > 1e-6) {
      fprintf(stderr, "consumer: token %d: got experts %d,%d weights %.7f,%.7f; expected %d,%d %.7f,%.7f\n", t,
              ids[t * K], ids[t * K + 1], weights[t * K], weights[t * K + 1], best, second, w0, 1.0 - w0);
      bad = 1;
    }
  }
  moekit_router_destroy(router);
  moekit_context_destroy(ctx);
  if (bad) return 1;
  printf("consumer: moekit %s routed %d tokens correctly\n", moekit_version_string(), T);
  return 0;
}
