// The float64 reference for every moekit operation. Independent of core: written from the specifications
// (OCP FP8 / MX v1.0, DeepSeek-V3 grouped routing, vLLM moe_align_block_size) with plain loops in double.
// Split by topic: ref_numerics (format encode/decode), ref_router, ref_quant, ref_experts.
#pragma once

#include "reference/ref_numerics.h"
#include "reference/ref_router.h"
#include "reference/ref_quant.h"
#include "reference/ref_experts.h"
