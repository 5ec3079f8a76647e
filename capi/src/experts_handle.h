// The body of a moekit_experts handle, shared by experts_api.cpp and moe_forward_api.cpp.
#pragma once

#include <cstdint>
#include <memory>

#include "api_common.h"
#include "moekit_core/experts.h"

struct moekit_experts_s {
  uint32_t magic = moekit::capi::kExpertsMagic;
  std::unique_ptr<moekit::Experts> impl;
};

namespace moekit::capi {

inline Experts& experts_of(moekit_experts e) { return *check_handle(e, kExpertsMagic, "experts")->impl; }

// report may be NULL. check_report validates struct_size before any work, so a bad report fails the call with
// every output untouched; fill_report writes it after success (exactly this version's fields).
void check_report(const moekit_run_report* report);
void fill_report(const RunReport& r, moekit_run_report* report);

}  // namespace moekit::capi
