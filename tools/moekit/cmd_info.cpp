// `moekit info`: version, ABI, every backend with its devices or the reason it is unavailable.
#include <cstdio>

#include "commands.h"
#include "moekit/moekit.h"

namespace moekit_cli {

int cmd_info(const Args&) {
  std::printf("moekit %s (ABI %d)\n", moekit_version_string(), moekit_abi_version());
  const moekit_backend backends[] = {MOEKIT_BACKEND_CPU, MOEKIT_BACKEND_CUDA, MOEKIT_BACKEND_HIP};
  for (moekit_backend b : backends) {
    moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
    if (moekit_backend_query(b, &info) != MOEKIT_OK) {
      std::fprintf(stderr, "moekit: backend query failed: %s\n", moekit_last_error());
      return 1;
    }
    if (info.available)
      std::printf("  %-5s available, %d device(s): %s\n", info.name, info.device_count, info.detail);
    else
      std::printf("  %-5s unavailable: %s\n", info.name, info.detail);
  }
  moekit_context ctx = nullptr;
  if (moekit_context_create(MOEKIT_BACKEND_AUTO, 0, &ctx) != MOEKIT_OK) {
    std::fprintf(stderr, "moekit: no backend usable: %s\n", moekit_last_error());
    return 1;
  }
  moekit_backend chosen = MOEKIT_BACKEND_CPU;
  moekit_context_get_backend(ctx, &chosen, nullptr);
  moekit_platform_contract c = MOEKIT_PLATFORM_CONTRACT_INIT;
  moekit_context_platform_contract(ctx, &c);
  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  moekit_backend_query(chosen, &info);
  std::printf("auto selects: %s (block_size_m %d, hidden_align %d, intermediate_align %d, buffer_align %d B)\n",
              info.name, c.block_size_m, c.hidden_align, c.intermediate_align, c.buffer_align_bytes);
  moekit_context_destroy(ctx);
  return 0;
}

}  // namespace moekit_cli
