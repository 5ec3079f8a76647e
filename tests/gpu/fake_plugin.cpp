// Stand-in device modules for core's side of the plugin ABI (plugin_abi_test.cpp), built in three variants:
//  FAKE_ABI_VERSION=1  a well-formed module with one "device": route answers UNSUPPORTED, quantize a device
//                      fault, build_plan is not provided; nothing ever touches tensor memory;
//  FAKE_ABI_VERSION=2  a module of another ABI version, which core must refuse;
//  FAKE_NO_ENTRY       a shared library without the entry point.
#include <cstdio>
#include <cstring>

#include "moekit_plugin.h"

#ifndef FAKE_NO_ENTRY
namespace {

int32_t say(char* msg, size_t cap, const char* text, int32_t status) {
  if (msg != nullptr && cap > 0) std::snprintf(msg, cap, "%s", text);
  return status;
}

int32_t probe(int32_t* count, char* detail, size_t cap) {
  *count = 1;
  return say(detail, cap, "fake device 0", MOEKIT_PLUGIN_OK);
}
int32_t context_create(int32_t, void** out, char*, size_t) {
  static int context_token;
  *out = &context_token;
  return MOEKIT_PLUGIN_OK;
}
int32_t context_destroy(void*, char*, size_t) { return MOEKIT_PLUGIN_OK; }
int32_t context_describe(void*, char* out, size_t cap) { return say(out, cap, "fake context", MOEKIT_PLUGIN_OK); }
int32_t platform_contract(void*, moekit_plugin_contract* out, char*, size_t) {
  *out = moekit_plugin_contract{48, 128, 64, 256, 32, 128};  // block_size_m 48: visibly the module's own
  return MOEKIT_PLUGIN_OK;
}
int32_t route(void*, void*, const moekit_plugin_router_config*, const moekit_plugin_tensor*,
              const moekit_plugin_routing*, char* msg, size_t cap) {
  return say(msg, cap, "route: the fake module cannot route", MOEKIT_PLUGIN_UNSUPPORTED);
}
int32_t quantize(void*, void*, const moekit_plugin_quantizer_config*, const moekit_plugin_tensor*,
                 const moekit_plugin_tensor*, const moekit_plugin_tensor*, char* msg, size_t cap) {
  return say(msg, cap, "quantize: simulated device fault", MOEKIT_PLUGIN_DEVICE_ERROR);
}

const moekit_plugin_table kTable = {
    FAKE_ABI_VERSION, sizeof(moekit_plugin_table), "cuda", 2, probe, context_create, context_destroy,
    context_describe, platform_contract, route,
    /*build_plan=*/nullptr, /*router_gemm=*/nullptr, quantize, /*dequantize=*/nullptr,
    /*prepare_experts=*/nullptr, /*free_experts=*/nullptr, /*experts_workspace_size=*/nullptr,
    /*run_experts=*/nullptr, /*alloc=*/nullptr, /*free=*/nullptr, /*stream_sync=*/nullptr,
};

}  // namespace

// Answers whatever version is asked: the version check is core's job.
extern "C" __attribute__((visibility("default"))) const moekit_plugin_table* moekit_plugin_get_table(uint32_t) {
  return &kTable;
}
#else
extern "C" __attribute__((visibility("default"))) int moekit_fake_module_without_entry_point() { return 0; }
#endif
