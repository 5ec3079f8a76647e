// The body of a moekit_router handle, shared by router_api.cpp and the entry points that take a router
// (moekit_moe_forward).
#pragma once

#include <cstdint>
#include <memory>

#include "api_common.h"
#include "moekit_core/router.h"

struct moekit_router_s {
  uint32_t magic = moekit::capi::kRouterMagic;
  std::unique_ptr<moekit::Router> impl;
};
