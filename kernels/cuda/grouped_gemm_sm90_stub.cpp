// grouped_gemm_sm90.h when the module is built without CUTLASS or without an sm_90a target: the prefill tier is
// absent, and the expert runner keeps its mma.sync kernels on every device (it asks compiled() first).
#include "grouped_gemm_sm90.h"

#include "plugin_error.h"

namespace moekit::cuda::experts::sm90 {

bool compiled() { return false; }

const char* configuration(bool, GroupedTile, bool) { return "not built (no CUTLASS headers or no sm_90a target)"; }

size_t scratch_bytes(int32_t, int) { return 0; }

void run(const GroupedPlan&, const GroupedGemm&, void*, size_t, int, cudaStream_t) {
  throw_unsupported(
      "experts: the CUTLASS sm_90a tier is not in this build of libmoekit_cuda.so (configure with the CUTLASS "
      "headers, scripts/fetch_cutlass.sh, and 90a in CMAKE_CUDA_ARCHITECTURES)");
}

}  // namespace moekit::cuda::experts::sm90
