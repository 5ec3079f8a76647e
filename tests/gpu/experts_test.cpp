// The CUDA expert runner against the CPU backend on the same inputs, through the public C API: every weight
// format x activation x hidden dtype x FP8 activation mode that the runner supports, biases, expert_map with
// -1 entries, invalid ids, all tokens on one expert, apply_router_weight_on_input, T = 0, E not a multiple of
// 32, and model-preset shapes (scaled where a preset's full weights would not fit a test) up to T = 16384.
// Tolerance: tolerance_for (experts_case.h) explains it from the operand formats.
#include <cstdio>
#include <memory>
#include <algorithm>
#include <regex>

#include "../../kernels/cuda/grouped_tiles.h"
#include "device_code_probe.h"
#include "experts_case.h"

namespace moekit_gpu_test {
namespace {

using W = moekit_weight_format;

struct Outputs {
  std::vector<uint8_t> out;
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
};

bool device_is_sm90();  // below, with the forced prefill tier

void run_backend(moekit_context ctx, bool gpu, ExpertsCaseData& d, const ExpertsCase& c, Outputs& result) {
  moekit_experts ex = nullptr;
  MOEKIT_OK(moekit_experts_create(ctx, &d.desc, &ex));
  moekit_expert_weights w = weights_of(d, gpu);
  const moekit_status set = moekit_experts_set_weights(ex, &w, nullptr);
  if (set != MOEKIT_OK) {
    moekit_experts_destroy(ex);
    FAIL() << "set_weights (" << (gpu ? "cuda" : "cpu") << "): " << moekit_last_error();
  }
  size_t ws_bytes = 0;
  MOEKIT_OK(moekit_experts_workspace_size(ex, c.T, c.k, &ws_bytes));
  const size_t out_bytes = static_cast<size_t>(c.T * c.H) * moekit_dtype_size(c.hidden_dtype);
  result.out.assign(out_bytes, 0xCD);
  moekit_routing plan{};
  plan.struct_size = sizeof plan;
  moekit_status st;
  if (gpu) {
    DeviceBuffer ws(ws_bytes, c.workspace_fill), out(out_bytes);
    moekit_tensor h = d.hidden.gpu(), o = device_tensor(out.get(), c.hidden_dtype, {c.T, c.H});
    constexpr size_t kMisalign = 2;  // bytes past cudaMalloc's (256-byte aligned) base
    std::unique_ptr<DeviceBuffer> shifted;
    if (c.misaligned_hidden) {
      shifted = std::make_unique<DeviceBuffer>(d.hidden.bytes.size() + kMisalign);
      char* at = static_cast<char*>(shifted->get()) + kMisalign;
      CUDA_OK(cudaMemcpy(at, d.hidden.bytes.data(), d.hidden.bytes.size(), cudaMemcpyHostToDevice));
      h.data = at;
    }
    plan.topk_weights = d.topk_w.gpu();
    plan.topk_ids = d.topk_ids.gpu();
    st = moekit_experts_run(ex, &h, &plan, &o, ws_bytes ? ws.get() : nullptr, ws_bytes, &result.report, nullptr);
    const std::string err = moekit_last_error();
    CUDA_OK(cudaDeviceSynchronize());
    result.out = out.download<uint8_t>(out_bytes);
    moekit_experts_destroy(ex);
    ASSERT_EQ(st, MOEKIT_OK) << "cuda run: " << err;
  } else {
    AlignedHost ws(ws_bytes);
    moekit_tensor h = d.hidden.host(), o = host_tensor(result.out.data(), c.hidden_dtype, {c.T, c.H});
    plan.topk_weights = d.topk_w.host();
    plan.topk_ids = d.topk_ids.host();
    st = moekit_experts_run(ex, &h, &plan, &o, ws.ptr, ws_bytes, &result.report, nullptr);
    const std::string err = moekit_last_error();
    moekit_experts_destroy(ex);
    ASSERT_EQ(st, MOEKIT_OK) << "cpu run: " << err;
  }
}

// Runs the case on both backends and compares. `expect_kernel`: the report's kernel must start with it (the
// tier a test forces); null: any tier, by the runner's own choice. `expect_detail`: text the report's detail
// must hold.
void check_case(moekit_context cpu, moekit_context gpu, const ExpertsCase& c, uint64_t seed,
                const char* expect_kernel = nullptr, const char* expect_detail = nullptr) {
  ExpertsCaseData d = make_case(c, seed);
  Outputs ref, got;
  ASSERT_NO_FATAL_FAILURE(run_backend(cpu, false, d, c, ref));
  ASSERT_NO_FATAL_FAILURE(run_backend(gpu, true, d, c, got));

  // The report: the kernel that ran and why; the CPU's counts confirm the scenario has what it claims.
  const std::string kernel = got.report.kernel, detail = got.report.detail;
  const bool grouped = kernel.rfind("cuda-sm90-grouped", 0) == 0, decode = kernel.rfind("cuda-decode", 0) == 0;
  const bool streaming = kernel.rfind("cuda-stream", 0) == 0;
  EXPECT_TRUE(grouped || decode || streaming || kernel.rfind("cuda-mma", 0) == 0) << kernel;
  if (expect_kernel != nullptr) {
    EXPECT_EQ(kernel.rfind(expect_kernel, 0), 0u) << kernel << ": " << detail;
  }
  if (expect_detail != nullptr) {
    EXPECT_NE(detail.find(expect_detail), std::string::npos) << detail;
  }
  EXPECT_NE(detail.find(grouped     ? "CUTLASS sm90 grouped GEMM"
                        : decode    ? "decode GEMV"
                        : streaming ? "expert-major streaming"
                                    : "BM=64"),
            std::string::npos)
      << detail;
  if (streaming) {  // gate_up reads hidden in place when it is the compute type, at any T
    // FP8: which tensor-core instruction ran ends the description: wgmma where the device runs sm_90a code (the
    // tests' code is built for the module's targets: device_code_probe.h), mma.sync otherwise.
    if (c.format == MOEKIT_WEIGHTS_FP8_BLOCK) {
      EXPECT_NE(detail.find(test_device_code().wgmma ? ", wgmma; " : ", mma.sync; "), std::string::npos) << detail;
    }
    const bool sixteen_bit = c.format == MOEKIT_WEIGHTS_BF16 || c.format == MOEKIT_WEIGHTS_F16 ||
                             c.format == MOEKIT_WEIGHTS_F32;
    const moekit_dtype compute = c.format == MOEKIT_WEIGHTS_F16 ? MOEKIT_DTYPE_F16 : MOEKIT_DTYPE_BF16;
    const bool in_place = sixteen_bit && c.act_quant == MOEKIT_ACT_QUANT_NONE && !c.weight_on_input &&
                          c.hidden_dtype == compute && c.H % 8 == 0 && !c.misaligned_hidden;
    // FP8 activations at T > 1: each token's row quantized once (router weight not on the input), from 1024
    // assignments on (experts_stream.h, kTokenCodesMinAssignments).
    const bool per_token =
        c.act_quant != MOEKIT_ACT_QUANT_NONE && c.T > 1 && !c.weight_on_input && c.T * c.k >= 1024;
    const std::string x_from = in_place ? "x in place" : per_token ? "x per token" : "x gathered";
    if (c.T == 1) {  // the one-token path
      const std::string path = "expert-major streaming, one token: block per (slot, 64 weight rows), ";
      EXPECT_NE(detail.find(path + x_from), std::string::npos) << detail;
      // The ring depth of each GEMM pass, one of the depths the one-token kernels are compiled for, and the down
      // pass's K splits where it has them (experts_stream.h, kOneTokenDownSplits).
      EXPECT_TRUE(std::regex_search(
          detail, std::regex(", rings (3|4|6|12) \\(w13\\) / (3|4|6|12) \\(w2(, 2 K splits)?\\), ")))
          << detail;
    } else {
      // The down pass's ring: 3 stages, or 4-5 with two w2 runs per block where the grid fits (down_ring_stages).
      EXPECT_TRUE(std::regex_search(detail, std::regex("^expert-major streaming: block per \\(expert, 64 weight rows"
                                                       "(; w2 2x64\\) per (8|16|32) rows, rings 3/(3|4|5)"
                                                       "|\\) per (8|16|32) rows, rings 3/3) \\(w13/w2\\), " +
                                                       x_from + ", ")))
          << detail;
      // Two 64-row runs of w2 per down block where the one-run grid takes at most two waves (experts_stream.h,
      // down_chunks): certainly so when even every local expert's blocks (L x Hp / 64) fit two per SM; and one run
      // where the experts this case's routing touches give a grid past two waves of 4 blocks per SM (no ring of
      // the tier fits 5 on any device) with a 10 % margin (the rule counts the experts uniform routing touches).
      int sms = 0;
      ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
      const int64_t hp = (c.H + 127) / 128 * 128;
      if (c.L * (hp / 64) <= 2 * static_cast<int64_t>(sms)) {
        EXPECT_NE(detail.find("; w2 2x64)"), std::string::npos) << detail;
      }
      std::vector<bool> touched(static_cast<size_t>(c.E), false);
      const auto* ids = reinterpret_cast<const int32_t*>(d.topk_ids.bytes.data());
      for (int64_t a = 0; a < c.T * c.k; ++a)
        if (ids[a] >= 0 && ids[a] < c.E && (d.expert_map.empty() || d.expert_map[static_cast<size_t>(ids[a])] >= 0))
          touched[static_cast<size_t>(ids[a])] = true;
      const int64_t touched_local = std::count(touched.begin(), touched.end(), true);
      if (static_cast<double>(touched_local * (hp / 64)) > 1.1 * 2 * 4 * sms) {
        EXPECT_EQ(detail.find("; w2 2x64)"), std::string::npos) << detail;
      }
    }
  }
  // Whole, on every tier: the path and the tier's reason fit the report's 191 characters with one to spare, so
  // that a truncated detail (exactly 191) cannot pass for a whole one.
  EXPECT_LT(detail.size(), sizeof got.report.detail - 1) << detail;
  if (grouped && c.T > 0) {
    // The tile by the groups' average size, the routed rows expected per local expert, T * k * L / E over L
    // (local_rows.h; grouped_tiles.h's grouped_tile_for): FP8 blocks 64x128x128 up to 128 rows per expert, then
    // 128x128x128; bf16 64x128x128 up to 48, 64x256x64 up to 256, then 128x256x64. The suites' cases sit in every
    // range.
    const bool fp8 = kernel.rfind("cuda-sm90-grouped-fp8", 0) == 0;
    const double rows_per_expert = static_cast<double>(c.T) * c.k * c.L / c.E / c.L;
    const char* tile = fp8 ? (rows_per_expert <= 128.0 ? "64x128x128" : "128x128x128")
                       : rows_per_expert <= 48.0  ? "64x128x128"
                       : rows_per_expert <= 256.0 ? "64x256x64"
                                                  : "128x256x64";
    // GEMM1's tile ends the configuration text (a GEMM2 override follows as "; GEMM2 tile ...").
    EXPECT_NE(detail.find(std::string(", tile ") + tile + ";"), std::string::npos)
        << rows_per_expert << " rows per expert: " << detail;
    // GEMM2's tile, named after GEMM1's where it differs: grouped_gemm2_tile_for (grouped_tiles.h; bf16 GEMM2 on
    // the 128-row tile where that grid fits one wave of the device's SMs, checked by the core tests). Not where
    // MOEKIT_CUDA_GROUPED_TILES names the tiles: the caller asserts those.
    if (std::getenv("MOEKIT_CUDA_GROUPED_TILES") == nullptr) {
      namespace sm90 = moekit::cuda::experts::sm90;
      int sms = 0;
      ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
      const int64_t hp = (c.H + 127) / 128 * 128;
      const sm90::GroupedTile gemm1 = sm90::grouped_tile_for(fp8, rows_per_expert);
      const sm90::GroupedTile gemm2 = sm90::grouped_gemm2_tile_for(fp8, rows_per_expert, c.L, hp, sms);
      if (gemm2 != gemm1) {
        EXPECT_NE(detail.find(std::string("; GEMM2 tile ") + sm90::tile_name(gemm2) + ";"), std::string::npos)
            << rows_per_expert << " rows per expert, " << sms << " SMs: " << detail;
      } else {
        EXPECT_EQ(detail.find("; GEMM2 tile"), std::string::npos) << detail;
      }
    }
    // FP8: GEMM1's W scales per 128-row block where I % 128 == 0 (one GEMM) or I % 16 == 0 and I >= 64 (two
    // windows), per row otherwise (experts_prepared.h).
    if (fp8) {
      const bool blocks = c.I % 128 == 0 || (c.I % 16 == 0 && c.I >= 64);
      const char* scales = blocks ? "e4m3 wgmma, 128x128 W scales, " : "e4m3 wgmma, per-row W13 scales, ";
      EXPECT_NE(detail.find(scales), std::string::npos) << "I = " << c.I << ": " << detail;
    }
  }
  EXPECT_EQ(ref.report.invalid_assignments, d.invalid);
  EXPECT_EQ(ref.report.non_local_assignments, d.non_local);

  const size_t n = static_cast<size_t>(c.T * c.H);
  double max_ref = 0.0;
  for (size_t i = 0; i < n; ++i) max_ref = std::max(max_ref, std::fabs(double(from_dtype(ref.out, c.hidden_dtype, i))));
  // The grouped tier's FP8 GEMMs, and the streaming tier's on sm_90a, run on Hopper's e4m3 wgmma, whose
  // accumulation inside each 128-wide K block keeps fewer bits than f32 (CUTLASS and the streaming tier promote
  // to f32 once per block). GEMM1's sums then differ from the CPU's
  // by more than rounding, and the FP8 re-quantization of the activation flips a code one step more often
  // than on the mma.sync tier, whose in-block sums of e4m3 products are exact (measured on the H200: rms error
  // 0.02-0.06 vs 3e-5, worst element up to 1.12 against an 8u bound of 1.0). Such a flip moves one output by
  // up to one e4m3 step of one activation times its w2 weights, so the per-element bound doubles for this
  // tier, and a second check on the rms error (2^-8 of max|out|, 5x what the tier measured and 50x under what
  // a wrong scale or layout gave: rms 8 of max 55) keeps a systematic error from hiding under it. (The streaming
  // tier on wgmma, H200: one output of 2400 in fp8_swiglu_bias_w8a8tok_bf16 T=8 off by 0.93 against a bound of
  // 0.89, rms 0.072 of max 38; every other FP8 case inside the single bound.)
  const bool fp8_wgmma = std::string(got.report.kernel).rfind("cuda-sm90-grouped-fp8", 0) == 0 ||
                         std::string(got.report.detail).find(", wgmma; ") != std::string::npos;
  const double tol = tolerance_for(c, max_ref) * (fp8_wgmma ? 2.0 : 1.0);
  size_t bad = 0, worst = 0;
  double worst_err = 0.0, sum_sq = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double r = from_dtype(ref.out, c.hidden_dtype, i), g = from_dtype(got.out, c.hidden_dtype, i);
    const double err = std::isfinite(g) ? std::fabs(g - r) : INFINITY;
    sum_sq += (g - r) * (g - r);
    if (err > worst_err || !(err == err)) worst_err = err, worst = i;
    if (!(err <= tol)) ++bad;
  }
  EXPECT_EQ(bad, 0u) << bad << " of " << n << " outputs beyond tolerance " << tol << " (max|ref| " << max_ref
                     << "); worst at token " << worst / c.H << " column " << worst % c.H << ": gpu "
                     << from_dtype(got.out, c.hidden_dtype, worst) << " cpu " << from_dtype(ref.out, c.hidden_dtype, worst);
  if (fp8_wgmma && n > 0) {
    EXPECT_LE(std::sqrt(sum_sq / n), std::ldexp(max_ref, -8)) << "rms error of the FP8 wgmma tier";
  }
  // Tokens without any valid local expert come out as exact zeros.
  const auto* ids = reinterpret_cast<const int32_t*>(d.topk_ids.bytes.data());
  for (int64_t t = 0; t < c.T; ++t) {
    bool any = false;
    for (int32_t j = 0; j < c.k; ++j) {
      const int32_t id = ids[t * c.k + j];
      any |= id >= 0 && id < c.E && (d.expert_map.empty() || d.expert_map[static_cast<size_t>(id)] >= 0);
    }
    if (any) continue;
    for (int64_t h = 0; h < c.H; ++h)
      ASSERT_EQ(from_dtype(got.out, c.hidden_dtype, static_cast<size_t>(t * c.H + h)), 0.0f) << "token " << t;
  }
  std::printf("[experts] %-34s T=%-5lld max|ref| %.3g  max err %.3g (tol %.3g)  rms err %.3g  %s\n", c.name,
              static_cast<long long>(c.T), max_ref, worst_err, tol, n ? std::sqrt(sum_sq / n) : 0.0, got.report.kernel);
}

// A tier that a suite forces through MOEKIT_CUDA_EXPERTS_TIER: the value that forces it, the prefix of the
// kernel its report must name (at T = 0 too, or only where T > 0), the seed of each case (seed_base +
// T * seed_per_token + E), and where it needs more than a CUDA device: `runs_on` says whether it can run the
// case here (null: always), and if it cannot, the test is skipped with `skip_reason`.
struct ForcedTier {
  const char* tier;
  const char* kernel_prefix;
  bool kernel_prefix_at_t0;
  uint64_t seed_base, seed_per_token;
  bool (*runs_on)(const ExpertsCase&);
  const char* skip_reason;
};

void check_forced_tier(moekit_context cpu, moekit_context gpu, const ForcedTier& tier, const ExpertsCase& c) {
  if (tier.runs_on != nullptr && !tier.runs_on(c)) GTEST_SKIP() << tier.skip_reason;
  const ScopedEnv env("MOEKIT_CUDA_EXPERTS_TIER", tier.tier);
  ASSERT_TRUE(env.ok());
  const uint64_t seed = tier.seed_base + static_cast<uint64_t>(c.T) * tier.seed_per_token + static_cast<uint64_t>(c.E);
  check_case(cpu, gpu, c, seed, (c.T > 0 || tier.kernel_prefix_at_t0) ? tier.kernel_prefix : nullptr);
}

class ExpertsVsCpu : public GpuTest, public ::testing::WithParamInterface<ExpertsCase> {};

TEST_P(ExpertsVsCpu, MatchesTheCpuBackend) {
  const ExpertsCase& c = GetParam();
  check_case(cpu_, gpu_, c, 1234 + static_cast<uint64_t>(c.T) * 31 + static_cast<uint64_t>(c.E));
}

constexpr auto kBF16 = MOEKIT_DTYPE_BF16;
constexpr auto kF16 = MOEKIT_DTYPE_F16;
constexpr auto kF32 = MOEKIT_DTYPE_F32;
constexpr auto kSilu = MOEKIT_ACTIVATION_SILU_MUL;
constexpr auto kGelu = MOEKIT_ACTIVATION_GELU_MUL;
constexpr auto kSwiglu = MOEKIT_ACTIVATION_SWIGLU_OAI;
constexpr auto kNoQ = MOEKIT_ACT_QUANT_NONE;
constexpr auto kTokQ = MOEKIT_ACT_QUANT_FP8_PER_TOKEN;
constexpr auto kGrpQ = MOEKIT_ACT_QUANT_FP8_PER_GROUP;

// Small shapes: H and I deliberately not multiples of 128 (padding), E not a multiple of 32.
const ExpertsCase kFormatCases[] = {
    // name                        format                    act      hidden q      bias  E   L   H    I    T   k
    {"bf16_silu_bf16", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 200, 320, 37, 2},
    {"bf16_gelu_f32", MOEKIT_WEIGHTS_BF16, kGelu, kF32, kNoQ, false, 13, 13, 256, 96, 64, 3},
    {"bf16_swiglu_bias_f16", MOEKIT_WEIGHTS_BF16, kSwiglu, kF16, kNoQ, true, 10, 10, 160, 200, 41, 4},
    {"f16_silu_f16", MOEKIT_WEIGHTS_F16, kSilu, kF16, kNoQ, false, 13, 13, 160, 96, 64, 3},
    {"f16_swiglu_bias_bf16", MOEKIT_WEIGHTS_F16, kSwiglu, kBF16, kNoQ, true, 6, 6, 128, 256, 30, 2},
    {"f32_swiglu_bias_f32", MOEKIT_WEIGHTS_F32, kSwiglu, kF32, kNoQ, true, 6, 6, 128, 200, 50, 2},
    {"f32_gelu_bf16", MOEKIT_WEIGHTS_F32, kGelu, kBF16, kNoQ, false, 7, 7, 96, 64, 20, 3},
    {"fp8_silu_w8a16_bf16", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kNoQ, false, 10, 10, 300, 200, 40, 2},
    {"fp8_swiglu_bias_w8a8grp_bf16", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 10, 10, 384, 320, 33, 4},
    {"fp8_gelu_w8a8tok_f32", MOEKIT_WEIGHTS_FP8_BLOCK, kGelu, kF32, kTokQ, false, 9, 9, 256, 192, 25, 3},
    {"fp8_silu_w8a8grp_f16", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF16, kGrpQ, false, 5, 5, 200, 136, 60, 2},
    {"mxfp4_swiglu_bias_bf16", MOEKIT_WEIGHTS_MXFP4, kSwiglu, kBF16, kNoQ, true, 12, 12, 192, 160, 29, 4},
    {"mxfp4_silu_f32", MOEKIT_WEIGHTS_MXFP4, kSilu, kF32, kNoQ, false, 7, 7, 256, 96, 33, 2},
    {"mxfp4_gelu_a8grp_f16", MOEKIT_WEIGHTS_MXFP4, kGelu, kF16, kGrpQ, false, 7, 7, 128, 64, 20, 2},
    {"bf16_silu_a8tok_f16", MOEKIT_WEIGHTS_BF16, kSilu, kF16, kTokQ, false, 6, 6, 200, 160, 21, 2},
    {"f16_gelu_a8grp_f32", MOEKIT_WEIGHTS_F16, kGelu, kF32, kGrpQ, true, 6, 6, 256, 128, 21, 2},
};
INSTANTIATE_TEST_SUITE_P(Formats, ExpertsVsCpu, ::testing::ValuesIn(kFormatCases),
                         [](const auto& info) { return std::string(info.param.name); });

ExpertsCase with(ExpertsCase c, const char* name, Routing r, int32_t L = 0, bool on_input = false) {
  c.name = name;
  c.routing = r;
  if (L > 0) c.L = L;
  c.weight_on_input = on_input;
  return c;
}
ExpertsCase misaligned(ExpertsCase c, const char* name) {
  c.name = name;
  c.misaligned_hidden = true;
  return c;
}
const ExpertsCase kBase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 45, 4};
const ExpertsCase kRoutingCases[] = {
    with(kBase, "expert_map_minus1", Routing::Random, 7),
    with(kBase, "invalid_ids", Routing::WithInvalidIds),
    with(kBase, "expert_map_and_invalid_ids", Routing::WithInvalidIds, 9),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 20, 20, 192, 160, 300, 2}, "one_expert_300",
         Routing::OneExpert),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 20, 20, 256, 128, 1000, 1},
         "one_expert_fp8_1000", Routing::OneExpert),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kF32, kNoQ, true, 20, 20, 192, 160, 40, 1}, "weight_on_input",
         Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 20, 20, 192, 160, 0, 4}, "no_tokens",
         Routing::Random),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_MXFP4, kSwiglu, kBF16, kNoQ, true, 33, 33, 256, 128, 1, 4}, "one_token_E33",
         Routing::Random),
    // One token, 16-bit, 176 MB of weights over its 8 slots (H = 7168): the runner's own choice between the
    // streaming and decode tiers (the streaming tier: >= 128 MiB), with the workspace sized by the same rule.
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 12, 12, 7168, 512, 1, 8},
         "one_token_wide_down_grid", Routing::Random),
    // Hidden rows off the 16-byte alignment (the one-token streaming path then gathers instead of reading in
    // place), at T = 1 on the same large-slots shape and at T > 1.
    misaligned(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 12, 12, 7168, 512, 1, 8},
               "one_token_misaligned_hidden"),
    misaligned(kBase, "misaligned_hidden"),
};
INSTANTIATE_TEST_SUITE_P(Routing, ExpertsVsCpu, ::testing::ValuesIn(kRoutingCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The mma.sync tier, forced through MOEKIT_CUDA_EXPERTS_TIER=mma on the same format and routing cases: it takes
// every format, and since the streaming tier took over up to 16 rows per expert, the runner picks it by itself
// only for formats the streaming tier declines (MXFP4, FP8 w8a16, 16-bit weights with FP8 activations) or past
// 16 rows per expert with fewer than 64 experts.
class MmaTierVsCpu : public GpuTest, public ::testing::WithParamInterface<ExpertsCase> {};

const ForcedTier kMmaTier{"mma", "cuda-mma", false, 4321, 29, nullptr, nullptr};

TEST_P(MmaTierVsCpu, MatchesTheCpuBackend) { check_forced_tier(cpu_, gpu_, kMmaTier, GetParam()); }
INSTANTIATE_TEST_SUITE_P(Formats, MmaTierVsCpu, ::testing::ValuesIn(kFormatCases),
                         [](const auto& info) { return std::string(info.param.name); });
INSTANTIATE_TEST_SUITE_P(Routing, MmaTierVsCpu, ::testing::ValuesIn(kRoutingCases),
                         [](const auto& info) { return std::string(info.param.name); });

// Model presets. Full hidden/intermediate sizes where the weights stay small enough to generate on the host;
// otherwise fewer experts (noted). T from 1 to 16384.
const ExpertsCase kPresetCases[] = {
    // Qwen3-30B-A3B (H 2048, I 768, E 128, k 8) with E scaled to 40.
    {"qwen3_bf16_E40_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 1, 8},
    {"qwen3_bf16_E40_T16", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 16, 8},
    {"qwen3_fp8_w8a8_E40_T256", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 40, 40, 2048, 768, 256, 8},
    {"Large_qwen3_bf16_E40_T4096", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 4096, 8},
    {"Large_qwen3_bf16_E40_T16384", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 16384, 8},
    // gpt-oss-120b (H 2880, I 2880, E 128, k 4, clamped SwiGLU + biases, MXFP4) with E scaled to 6.
    {"gptoss_mxfp4_E6_T8", MOEKIT_WEIGHTS_MXFP4, kSwiglu, kBF16, kNoQ, true, 6, 6, 2880, 2880, 8, 4},
    {"Large_gptoss_mxfp4_E6_T1024", MOEKIT_WEIGHTS_MXFP4, kSwiglu, kBF16, kNoQ, true, 6, 6, 2880, 2880, 1024, 4},
    // DeepSeek-V3 (H 7168, I 2048, E 256, k 8, FP8 blocks) with I scaled to 512 and E to 12.
    {"deepseek_fp8_w8a8_I512_E12_T4", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 12, 12, 7168, 512, 4, 8},
    {"Large_deepseek_fp8_I512_E12_T512", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 12, 12, 7168, 512, 512, 8},
    // Mixtral-8x7B (H 4096, I 14336, E 8, k 2) with I scaled to 3584.
    {"mixtral_bf16_I3584_T32", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 4096, 3584, 32, 2},
};
INSTANTIATE_TEST_SUITE_P(Presets, ExpertsVsCpu, ::testing::ValuesIn(kPresetCases),
                         [](const auto& info) { return std::string(info.param.name); });

// FP8 activations x FP8 weights without the e4m3 mma: the path sm_80 devices take (codes decoded to bf16 in
// the main loop), forced on this device through MOEKIT_CUDA_NO_E4M3_MMA.
TEST_F(GpuTest, Fp8W8a8WithoutE4m3MmaMatchesTheCpuBackend) {
  const ScopedEnv env("MOEKIT_CUDA_NO_E4M3_MMA", "1");
  ASSERT_TRUE(env.ok());
  const ExpertsCase c{"fp8_w8a8_sm80_path", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 10, 10, 384, 320, 70, 4};
  check_case(cpu_, gpu_, c, 4321);
}

// The prefill tier (CUTLASS sm_90a grouped GEMMs), forced through MOEKIT_CUDA_EXPERTS_TIER=grouped on every case
// it can run (bf16 or f32 weights with 16-bit activations; FP8 blocks with FP8 activations) so that its results are checked at small and odd shapes
// too, not only where the runner picks it by itself (>= 256 rows per expert, e.g. Large_qwen3_bf16_E40_T4096).
// It exists on sm_90 only: on another device the case does not apply.
bool device_is_sm90() {
  cudaDeviceProp prop{};
  return cudaGetDeviceProperties(&prop, 0) == cudaSuccess && prop.major == 9 && prop.minor == 0;
}

class GroupedTierVsCpu : public GpuTest, public ::testing::WithParamInterface<ExpertsCase> {};

// Its report names it at T = 0 too.
const ForcedTier kGroupedTier{"grouped", "cuda-sm90-grouped", true, 977, 17,
                              [](const ExpertsCase&) { return device_is_sm90(); },
                              "the grouped tier runs on sm_90 devices only"};

TEST_P(GroupedTierVsCpu, MatchesTheCpuBackend) { check_forced_tier(cpu_, gpu_, kGroupedTier, GetParam()); }

const ExpertsCase kGroupedCases[] = {
    // name                        format                    act      hidden q      bias  E   L   H    I    T   k
    {"bf16_silu_bf16", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 200, 320, 37, 2},
    {"bf16_gelu_f32", MOEKIT_WEIGHTS_BF16, kGelu, kF32, kNoQ, false, 13, 13, 256, 96, 64, 3},
    {"bf16_swiglu_bias_f16", MOEKIT_WEIGHTS_BF16, kSwiglu, kF16, kNoQ, true, 10, 10, 160, 200, 41, 4},
    {"f32_swiglu_bias_f32", MOEKIT_WEIGHTS_F32, kSwiglu, kF32, kNoQ, true, 6, 6, 128, 200, 50, 2},
    {"f32_gelu_bf16", MOEKIT_WEIGHTS_F32, kGelu, kBF16, kNoQ, false, 7, 7, 96, 64, 20, 3},
    with(kBase, "expert_map_minus1", Routing::Random, 7),
    with(kBase, "invalid_ids", Routing::WithInvalidIds),
    with(kBase, "expert_map_and_invalid_ids", Routing::WithInvalidIds, 9),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 20, 20, 192, 160, 2000, 2},
         "one_expert_2000", Routing::OneExpert),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kF32, kNoQ, true, 20, 20, 192, 160, 40, 1}, "weight_on_input",
         Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 20, 20, 192, 160, 0, 4}, "no_tokens",
         Routing::Random),
    // The 16-bit gather's three ways: bits copied as they are (bf16 hidden, the cases above), converted and scaled
    // by the router weight (here; f16 hidden into bf16 rows: bf16_swiglu_bias_f16), and element by element where
    // the hidden rows are not 16-byte aligned (below).
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 200, 160, 40, 1},
         "weight_on_input_bf16_hidden", Routing::Random, 0, true),
    misaligned(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 9, 9, 200, 192, 40, 3},
               "bf16_misaligned_hidden"),
    {"qwen3_bf16_E40_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 1, 8},
    {"qwen3_bf16_E40_T1024", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 1024, 8},
    {"mixtral_bf16_I3584_T256", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 4096, 3584, 256, 2},
    {"gptoss_bf16_swiglu_bias_E6_T700", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 6, 6, 2880, 2880, 700, 4},
    // FP8 blocks x FP8 activations (w8a8): e4m3 wgmma, A's scales per row x 128-K, W's per 128 x 128 block. I =
    // 320, 192, 224, 136 and 200 put a caller's 128-row weight block across the gate/up seam: GEMM1 runs as a gate
    // and an up window with block scales where I % 16 == 0 (320 and 192: the up window starts on gate padding;
    // 224: on gate rows of the block across the seam), per row where not (136, 200); I = 128, 512, 640, 768 take
    // one GEMM1 with block scales; H = 200 and I = 136 exercise the padding.
    {"fp8_swiglu_bias_w8a8grp_bf16", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 10, 10, 384, 320, 33, 4},
    {"fp8_gelu_w8a8tok_f32", MOEKIT_WEIGHTS_FP8_BLOCK, kGelu, kF32, kTokQ, false, 9, 9, 256, 192, 25, 3},
    {"fp8_silu_w8a8grp_f16", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF16, kGrpQ, false, 5, 5, 200, 136, 60, 2},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, true, 20, 20, 256, 128, 45, 4},
         "fp8_expert_map_and_invalid_ids", Routing::WithInvalidIds, 9),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 20, 20, 256, 128, 1000, 1},
         "fp8_one_expert_1000", Routing::OneExpert),
    // The FP8 gather's two ways: each token quantized once and its codes copied to its k rows (every FP8 case
    // above with k > 1), and each row quantized on its own (k = 1: fp8_one_expert_1000, and the router weight on
    // the input here; k > 1 with under 1.5 local rows per token, below). Misaligned hidden rows take the token
    // quantizer's scalar loads.
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 10, 10, 384, 320, 200, 1},
         "fp8_w8a8grp_weight_on_input", Routing::Random, 0, true),
    misaligned(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 9, 9, 256, 192, 40, 3},
               "fp8_w8a8grp_misaligned_hidden"),
    // Expert parallelism with k * L / E = 1 local row per token: the per-row quantization at k > 1.
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kTokQ, false, 20, 20, 256, 128, 60, 4},
         "fp8_w8a8tok_expert_map_1_row_per_token", Routing::Random, 5),
    {"deepseek_fp8_w8a8_I512_E12_T512", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 12, 12, 7168, 512, 512, 8},
    {"qwen3_fp8_w8a8_E40_T1024", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 40, 40, 2048, 768, 1024, 8},
    // Row segments of the gather and the activation pass (RowSegments: fewer expected rows than 32 warps per SM):
    // 2400 rows of 640 columns on an H200's 132 SMs take two segments of 512 and 128 columns, the last chunk half
    // (the bf16 gather and both activation passes; the FP8 gather copies per-token codes). On a device of 75 SMs or
    // fewer they run whole rows, also checked.
    {"bf16_row_segments_640", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 640, 640, 600, 4},
    {"fp8_row_segments_640", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 8, 8, 640, 640, 600, 4},
    // On and just past each bound of grouped_tile_for (T * k / E rows per local expert; check_case asserts the
    // tile): bf16 48 | 49 and 256 | 257, FP8 128 | 129.
    {"bf16_tile_bound_48_rows", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 256, 192, 96, 4},
    {"bf16_tile_bound_49_rows", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 256, 192, 98, 4},
    {"bf16_tile_bound_256_rows", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 256, 192, 512, 4},
    {"bf16_tile_bound_257_rows", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 256, 192, 514, 4},
    {"fp8_tile_bound_128_rows", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 8, 8, 256, 192, 256, 4},
    {"fp8_tile_bound_129_rows", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 8, 8, 256, 192, 258, 4},
    // GEMM1's windows with I % 128 = 96 (the up window's first block holds gate rows 160..223 and up rows 0..31,
    // all of the caller's block 1) on both tiles, and per-row W13 scales (I % 16 != 0) on the 128-row tile.
    {"fp8_windows_I224_64_tile", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 6, 6, 256, 224, 40, 4},
    {"fp8_windows_I224_128_tile", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 4, 4, 384, 224, 300, 2},
    {"fp8_per_row_scales_128_tile", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 4, 4, 256, 200, 300, 2},
    // I = 48 (< 64): per-row W13 scales, not the windows (whose up window's first block would start on gate
    // padding and end on up padding around the 48 real up rows).
    {"fp8_per_row_scales_I48", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 4, 4, 256, 48, 300, 2},
};
INSTANTIATE_TEST_SUITE_P(Grouped, GroupedTierVsCpu, ::testing::ValuesIn(kGroupedCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The decode tier (T <= 4; 16-bit, FP8-block and MXFP4 weights: weight-streaming GEMVs with the activation and
// the combine fused),
// forced through MOEKIT_CUDA_EXPERTS_TIER=decode so that odd shapes, every activation and hidden dtype, biases,
// skipped ids and full-size presets are checked against the CPU backend. It runs on every CUDA device.
class DecodeTierVsCpu : public GpuTest, public ::testing::WithParamInterface<ExpertsCase> {};

const ForcedTier kDecodeTier{"decode", "cuda-decode", false, 555, 13, nullptr, nullptr};

TEST_P(DecodeTierVsCpu, MatchesTheCpuBackend) { check_forced_tier(cpu_, gpu_, kDecodeTier, GetParam()); }

const ExpertsCase kDecodeCases[] = {
    // name                        format                    act      hidden q      bias  E   L   H    I    T   k
    {"bf16_silu_bf16", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 200, 320, 3, 2},
    {"bf16_gelu_f32", MOEKIT_WEIGHTS_BF16, kGelu, kF32, kNoQ, false, 13, 13, 256, 96, 4, 3},
    {"bf16_swiglu_bias_f16", MOEKIT_WEIGHTS_BF16, kSwiglu, kF16, kNoQ, true, 10, 10, 160, 200, 1, 4},
    {"f16_silu_f16", MOEKIT_WEIGHTS_F16, kSilu, kF16, kNoQ, false, 13, 13, 160, 96, 2, 3},
    {"f16_swiglu_bias_bf16", MOEKIT_WEIGHTS_F16, kSwiglu, kBF16, kNoQ, true, 6, 6, 128, 256, 4, 2},
    {"f32_swiglu_bias_f32", MOEKIT_WEIGHTS_F32, kSwiglu, kF32, kNoQ, true, 6, 6, 128, 200, 3, 2},
    {"f32_gelu_bf16", MOEKIT_WEIGHTS_F32, kGelu, kBF16, kNoQ, false, 7, 7, 96, 64, 1, 3},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 4, 4}, "expert_map_minus1",
         Routing::Random, 7),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 4, 4}, "invalid_ids",
         Routing::WithInvalidIds),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 4, 4},
         "expert_map_and_invalid_ids", Routing::WithInvalidIds, 9),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 20, 20, 192, 160, 4, 2}, "one_expert_4",
         Routing::OneExpert),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kF32, kNoQ, true, 20, 20, 192, 160, 3, 1}, "weight_on_input",
         Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 20, 20, 192, 160, 0, 4}, "no_tokens",
         Routing::Random),
    {"qwen3_bf16_E40_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 1, 8},
    {"qwen3_bf16_E40_T4", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 4, 8},
    {"mixtral_bf16_I3584_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 4096, 3584, 1, 2},
    {"gptoss_bf16_swiglu_bias_E6_T2", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 6, 6, 2880, 2880, 2, 4},
    {"deepseek_bf16_I512_E12_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 12, 12, 7168, 512, 1, 8},
    // FP8 blocks (w8a16, w8a8 per token / per group) and MXFP4 (w4a16, w4a8): odd H and I (padding), biases,
    // skipped ids, router weight on the input, T = 1..4, preset shapes.
    {"fp8_silu_w8a16_bf16", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kNoQ, false, 10, 10, 300, 200, 1, 2},
    {"fp8_gelu_bias_w8a16_f16", MOEKIT_WEIGHTS_FP8_BLOCK, kGelu, kF16, kNoQ, true, 9, 9, 300, 200, 3, 3},
    {"fp8_swiglu_bias_w8a8grp_bf16", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 10, 10, 384, 320, 4, 4},
    {"fp8_gelu_w8a8tok_f32", MOEKIT_WEIGHTS_FP8_BLOCK, kGelu, kF32, kTokQ, false, 9, 9, 256, 192, 3, 3},
    {"fp8_silu_w8a8grp_f16", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF16, kGrpQ, false, 5, 5, 200, 136, 2, 2},
    {"fp8_swiglu_bias_w8a8tok_bf16", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kTokQ, true, 7, 7, 300, 200, 1, 5},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, true, 20, 20, 300, 200, 4, 4},
         "fp8_w8a8grp_expert_map_and_invalid_ids", Routing::WithInvalidIds, 9),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kNoQ, true, 20, 20, 300, 200, 4, 4},
         "fp8_w8a16_expert_map_minus1", Routing::Random, 7),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF32, kTokQ, true, 20, 20, 192, 160, 3, 1},
         "fp8_w8a8tok_weight_on_input", Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_MXFP4, kGelu, kBF16, kNoQ, false, 20, 20, 192, 160, 2, 1},
         "mxfp4_weight_on_input", Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 20, 20, 192, 160, 4, 2},
         "fp8_w8a8grp_one_expert_4", Routing::OneExpert),
    {"qwen3_fp8_w8a8grp_E40_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 40, 40, 2048, 768, 1, 8},
    {"qwen3_fp8_w8a16_E40_T4", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 4, 8},
    {"deepseek_fp8_w8a8grp_I512_E12_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 12, 12, 7168, 512, 1, 8},
    {"deepseek_fp8_w8a8tok_I512_E12_T4", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kTokQ, false, 12, 12, 7168, 512, 4, 8},
    {"mixtral_fp8_w8a8grp_I3584_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 8, 8, 4096, 3584, 1, 2},
    {"mxfp4_swiglu_bias_bf16", MOEKIT_WEIGHTS_MXFP4, kSwiglu, kBF16, kNoQ, true, 12, 12, 192, 160, 1, 4},
    {"mxfp4_silu_f32", MOEKIT_WEIGHTS_MXFP4, kSilu, kF32, kNoQ, false, 7, 7, 256, 96, 3, 2},
    {"mxfp4_gelu_a8grp_f16", MOEKIT_WEIGHTS_MXFP4, kGelu, kF16, kGrpQ, false, 7, 7, 128, 64, 2, 2},
    {"mxfp4_silu_bias_a8tok_bf16", MOEKIT_WEIGHTS_MXFP4, kSilu, kBF16, kTokQ, true, 9, 9, 288, 224, 4, 3},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_MXFP4, kSwiglu, kBF16, kNoQ, true, 33, 33, 256, 128, 4, 4},
         "mxfp4_expert_map_and_invalid_ids", Routing::WithInvalidIds, 20),
    {"gptoss_mxfp4_E6_T1", MOEKIT_WEIGHTS_MXFP4, kSwiglu, kBF16, kNoQ, true, 6, 6, 2880, 2880, 1, 4},
    {"gptoss_mxfp4_a8grp_E6_T4", MOEKIT_WEIGHTS_MXFP4, kSwiglu, kBF16, kGrpQ, true, 6, 6, 2880, 2880, 4, 4},
};
INSTANTIATE_TEST_SUITE_P(Decode, DecodeTierVsCpu, ::testing::ValuesIn(kDecodeCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace moekit_gpu_test

namespace moekit_gpu_test {
namespace {

// The small-batch streaming tier (T of about 5..64: assignments grouped by expert on the device, each touched
// expert's weights streamed once against all of its rows on the tensor cores; 16-bit weights and FP8 w8a8),
// forced through MOEKIT_CUDA_EXPERTS_TIER=stream: odd H and I (padding), E not a multiple of 32, every
// activation and hidden dtype, biases, expert_map with -1 entries, invalid ids, router weight on the input,
// T = 0, all tokens on one expert (more rows than one pass of 32 takes: the tier loops), and preset shapes.
// FP8 w8a8 needs the e4m3 mma (sm_89+ device code); elsewhere the runner falls back and the report says so.
class StreamTierVsCpu : public GpuTest, public ::testing::WithParamInterface<ExpertsCase> {};

bool device_has_e4m3_mma() { return test_device_code().e4m3_mma; }

const ForcedTier kStreamTier{
    "stream", "cuda-stream", false, 771, 19,
    [](const ExpertsCase& c) { return c.format != MOEKIT_WEIGHTS_FP8_BLOCK || device_has_e4m3_mma(); },
    "the stream tier's FP8 path needs the e4m3 mma (sm_89+)"};

TEST_P(StreamTierVsCpu, MatchesTheCpuBackend) { check_forced_tier(cpu_, gpu_, kStreamTier, GetParam()); }

const ExpertsCase kStreamCases[] = {
    // name                        format                    act      hidden q      bias  E   L   H    I    T   k
    {"bf16_silu_bf16", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 200, 320, 16, 2},
    {"bf16_gelu_f32", MOEKIT_WEIGHTS_BF16, kGelu, kF32, kNoQ, false, 13, 13, 256, 96, 12, 3},
    {"bf16_swiglu_bias_f16", MOEKIT_WEIGHTS_BF16, kSwiglu, kF16, kNoQ, true, 10, 10, 160, 200, 33, 4},
    {"f16_silu_f16", MOEKIT_WEIGHTS_F16, kSilu, kF16, kNoQ, false, 13, 13, 160, 96, 24, 3},
    {"f16_swiglu_bias_bf16", MOEKIT_WEIGHTS_F16, kSwiglu, kBF16, kNoQ, true, 6, 6, 128, 256, 64, 2},
    {"f32_swiglu_bias_f32", MOEKIT_WEIGHTS_F32, kSwiglu, kF32, kNoQ, true, 6, 6, 128, 200, 9, 2},
    {"f32_gelu_bf16", MOEKIT_WEIGHTS_F32, kGelu, kBF16, kNoQ, false, 7, 7, 96, 64, 20, 3},
    {"fp8_swiglu_bias_w8a8grp_bf16", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 10, 10, 384, 320, 33, 4},
    {"fp8_gelu_w8a8tok_f32", MOEKIT_WEIGHTS_FP8_BLOCK, kGelu, kF32, kTokQ, false, 9, 9, 256, 192, 25, 3},
    {"fp8_silu_w8a8grp_f16", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF16, kGrpQ, false, 5, 5, 200, 136, 60, 2},
    {"fp8_swiglu_bias_w8a8tok_bf16", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kTokQ, true, 7, 7, 300, 200, 8, 5},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 16, 4}, "expert_map_minus1",
         Routing::Random, 7),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 16, 4}, "invalid_ids",
         Routing::WithInvalidIds),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 33, 33, 192, 160, 48, 4},
         "E33_expert_map_and_invalid_ids", Routing::WithInvalidIds, 9),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, true, 33, 33, 256, 128, 40, 4},
         "fp8_E33_expert_map_and_invalid_ids", Routing::WithInvalidIds, 20),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 20, 20, 192, 160, 64, 2}, "one_expert_64x2",
         Routing::OneExpert),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 20, 20, 192, 160, 300, 2},
         "one_expert_300x2", Routing::OneExpert),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 20, 20, 256, 128, 100, 1},
         "fp8_one_expert_100", Routing::OneExpert),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kF32, kNoQ, true, 20, 20, 192, 160, 40, 1}, "weight_on_input",
         Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF32, kTokQ, true, 20, 20, 192, 160, 24, 1},
         "fp8_w8a8tok_weight_on_input", Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 20, 20, 192, 160, 0, 4}, "no_tokens",
         Routing::Random),
    // One token (the path without a grouping pass): x read from hidden in place (H % 8 == 0, 16-bit hidden of
    // the compute type; H = 64, 200 and 2880 zero-filled to Hp) or gathered per slot (f32 / other 16-bit hidden,
    // H % 8 != 0, FP8, router weight on the input); skipped, non-local and repeated slots.
    {"bf16_silu_bf16_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 200, 320, 1, 2},
    {"bf16_gelu_f32_T1", MOEKIT_WEIGHTS_BF16, kGelu, kF32, kNoQ, false, 13, 13, 256, 96, 1, 3},
    {"f16_swiglu_bias_bf16_T1", MOEKIT_WEIGHTS_F16, kSwiglu, kBF16, kNoQ, true, 6, 6, 128, 256, 1, 2},
    {"f16_silu_f16_T1", MOEKIT_WEIGHTS_F16, kSilu, kF16, kNoQ, false, 13, 13, 160, 96, 1, 3},
    {"bf16_silu_H300_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 10, 10, 300, 200, 1, 4},
    {"fp8_swiglu_bias_w8a8grp_bf16_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 10, 10, 384, 320, 1, 4},
    {"fp8_gelu_w8a8tok_f32_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kGelu, kF32, kTokQ, false, 9, 9, 256, 192, 1, 3},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 1, 4}, "invalid_ids_T1",
         Routing::WithInvalidIds),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 1, 6}, "expert_map_minus1_T1",
         Routing::Random, 7),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 1, 2}, "no_local_expert_T1",
         Routing::Random, 1),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, true, 33, 33, 256, 128, 1, 5},
         "fp8_E33_expert_map_and_invalid_ids_T1", Routing::WithInvalidIds, 20),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 20, 20, 192, 160, 1, 4}, "repeated_ids_T1",
         Routing::RepeatedIds),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kTokQ, false, 20, 20, 256, 128, 1, 4},
         "fp8_repeated_ids_T1", Routing::RepeatedIds),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 1, 1}, "weight_on_input_T1",
         Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF32, kTokQ, true, 20, 20, 192, 160, 1, 1},
         "fp8_w8a8tok_weight_on_input_T1", Routing::Random, 0, true),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 20, 20, 256, 2048, 1, 4},
         "invalid_ids_I2048_T1", Routing::WithInvalidIds),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 64, 160, 1, 4}, "H64_invalid_ids_T1",
         Routing::WithInvalidIds),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_F16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 1, 5},
         "f16_gathered_expert_map_and_invalid_ids_T1", Routing::WithInvalidIds, 9),
    misaligned(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 20, 20, 192, 160, 1, 4},
               "misaligned_hidden_T1"),
    misaligned(ExpertsCase{"", MOEKIT_WEIGHTS_F16, kSilu, kF16, kNoQ, false, 13, 13, 160, 96, 16, 3},
               "misaligned_hidden_T16"),
    // The per-128-group FP8 gather (quantize_groups_kernel) at T > 1 on f32 hidden rows, H % 8 != 0, a misaligned
    // tensor and the router weight on the input.
    {"fp8_w8a8grp_f32_hidden_T24", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF32, kGrpQ, true, 9, 9, 392, 192, 24, 3},
    {"fp8_w8a8grp_H302_T16", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, false, 10, 10, 302, 200, 16, 4},
    misaligned(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kF16, kGrpQ, true, 13, 13, 256, 128, 20, 3},
               "fp8_w8a8grp_misaligned_hidden_T20"),
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 20, 20, 264, 128, 30, 1},
         "fp8_w8a8grp_weight_on_input_T30", Routing::Random, 0, true),
    // T > 1 with H % 8 != 0 (hidden of the compute type, still gathered) and H % 4 != 0 (the one-column combine).
    {"bf16_silu_bias_H302_T16", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 10, 10, 302, 200, 16, 4},
    {"f16_silu_H150_T12", MOEKIT_WEIGHTS_F16, kSilu, kF16, kNoQ, false, 9, 9, 150, 96, 12, 3},
    {"mixtral_bf16_I3584_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 4096, 3584, 1, 2},
    {"mixtral_fp8_w8a8grp_I3584_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 8, 8, 4096, 3584, 1, 2},
    {"gptoss_bf16_swiglu_bias_E6_T1", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 6, 6, 2880, 2880, 1, 4},
    {"qwen3_bf16_E40_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 1, 8},
    {"deepseek_fp8_w8a8grp_I512_E12_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 12, 12, 7168, 512, 1, 8},
    // More than one step of 1024 assignments in the grouping pass (group_by_runs: a warp's run of 2..16 items per
    // lane), random and all on one expert.
    {"bf16_silu_E40_T264_k8", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 256, 128, 264, 8},
    {"fp8_silu_w8a8grp_E40_T160_k8", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, true, 40, 40, 320, 256, 160, 8},
    // FP8 x quantized per token (T * k >= 1024): per-token scales and H % 128 != 0 (32-row passes, two w2 runs);
    // 16-row passes with one w2 run; skipped and non-local slots.
    {"fp8_gelu_w8a8tok_E40_T130_k8", MOEKIT_WEIGHTS_FP8_BLOCK, kGelu, kBF16, kTokQ, false, 40, 40, 200, 192, 130, 8},
    {"fp8_w8a8grp_E200_T128_k8", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 200, 200, 256, 128, 128, 8},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, true, 33, 33, 256, 128, 256, 4},
         "fp8_token_codes_E33_expert_map_and_invalid_ids_T256", Routing::WithInvalidIds, 20),
    // FP8 two-run down passes on the rings an H200 picks for them (down_ring_stages): 3 stages (320 two-run
    // blocks, more than the 4-stage ring's 264 resident) and 4 (192 blocks).
    {"fp8_w8a8grp_E10_H4096_T64_w2_rings3", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 10, 10, 4096, 256, 64, 2},
    {"fp8_w8a8grp_E6_H4096_T32_w2_rings4", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 6, 6, 4096, 256, 32, 2},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 20, 20, 192, 160, 600, 2},
         "one_expert_600x2", Routing::OneExpert),
    // The grouping pass's other layouts (experts_stream_rows.cuh): the tile path past 720 local experts, the run
    // table with the staged rows over it (L = 720; L = 256 of 300 experts with 16384 assignments, 16 items per
    // lane, invalid and non-local ids); and the combine's second round of 32 slot lookups (top_k > 32), at T > 1
    // and T = 1.
    {"bf16_group_tiles_E768_T16_k8", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 768, 768, 64, 64, 16, 8},
    {"bf16_group_overlay_E720_T8_k8", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 720, 720, 64, 64, 8, 8},
    with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 300, 300, 64, 64, 2048, 8},
         "bf16_group_overlay_E300_L256_T2048_k8_invalid_ids", Routing::WithInvalidIds, 256),
    {"bf16_combine_k40_E64_T8", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 64, 64, 64, 64, 8, 40},
    {"bf16_combine_k33_E64_T1", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 64, 64, 64, 64, 1, 33},
    // Preset shapes (E, or I, scaled so that the weights stay small on the host).
    {"qwen3_bf16_E40_T16", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 40, 40, 2048, 768, 16, 8},
    {"qwen3_fp8_w8a8grp_E40_T64", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 40, 40, 2048, 768, 64, 8},
    {"deepseek_fp8_w8a8grp_I512_E12_T16", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 12, 12, 7168, 512, 16, 8},
    {"deepseek_bf16_I512_E12_T32", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 12, 12, 7168, 512, 32, 8},
    {"gptoss_bf16_swiglu_bias_E6_T16", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 6, 6, 2880, 2880, 16, 4},
    {"mixtral_bf16_I3584_T64", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 4096, 3584, 64, 2},
    {"mixtral_fp8_w8a8grp_I3584_T16", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 8, 8, 4096, 3584, 16, 2},
};
INSTANTIATE_TEST_SUITE_P(Stream, StreamTierVsCpu, ::testing::ValuesIn(kStreamCases),
                         [](const auto& info) { return std::string(info.param.name); });

// bf16 GEMM2 on the 64x256x64 ping-pong tile, forced where the rule puts it on the 128-row tile (Mixtral-8x7B's
// shape at 64 rows per expert: 128 tiles of 128 rows fit an H200's 132 SMs): the detail names one tile for both
// GEMMs ("; GEMM2 tile ..." would sit between the tile and the tier's reason). Without the knob only
// qwen3_bf16_E40_T1024 runs GEMM2 on this kernel on an H200.
TEST_F(GpuTest, GroupedGemm2On64x256Tile) {
  if (!device_is_sm90()) GTEST_SKIP() << "the grouped tier runs on sm_90 only";
  const ScopedEnv tier("MOEKIT_CUDA_EXPERTS_TIER", "grouped"), tiles("MOEKIT_CUDA_GROUPED_TILES", "64x256x64");
  ASSERT_TRUE(tier.ok() && tiles.ok());
  const ExpertsCase c{"mixtral_bf16_I3584_T256_gemm2_64x256", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8,
                      4096, 3584, 256, 2};
  check_case(cpu_, gpu_, c, 79, "cuda-sm90-grouped-bf16", ", tile 64x256x64; MOEKIT_CUDA_EXPERTS_TIER=grouped; ");
}

// The one-token down pass's K splits (experts_stream.h, kOneTokenDownSplits), forced each way through
// MOEKIT_CUDA_STREAM_DOWN_SPLITS whatever the rule picks, on a workspace filled with NaN (0xFF bytes), so that a
// plane of y a split did not write fails the comparison. Split: gpt-oss-120b's shape (an odd count of w2 stages,
// 23, with I = 2880's zero-filled padding in split 1), DeepSeek-V3's hidden size with I = 512 (a 2-stage FP8 row,
// 896 blocks), Qwen3-30B-A3B's (3 stages: 2 + 1), a 2-stage row with w2 biases whose split 1 holds one scale block
// and the I padding, a 1-stage row (split 1 streams nothing and writes zeros), skipped and non-local slots.
// Unsplit: Mixtral-8x7B's 128 blocks (I scaled to 3584), which the rule splits on an H200. The report names the
// splits ("(w2, 2 K splits)") or their absence ("(w2),").
TEST_F(GpuTest, StreamOneTokenDownSplitsForced) {
  struct Forced {
    const char* splits;
    ExpertsCase c;
  };
  const Forced cases[] = {
      {"2", {"gptoss_bf16_swiglu_bias_E6_T1", MOEKIT_WEIGHTS_BF16, kSwiglu, kBF16, kNoQ, true, 6, 6, 2880, 2880, 1,
             4}},
      {"2", {"deepseek_fp8_w8a8grp_I512_E12_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 12, 12, 7168,
             512, 1, 8}},
      {"2", {"fp8_swiglu_bias_w8a8grp_bf16_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSwiglu, kBF16, kGrpQ, true, 10, 10, 384,
             320, 1, 4}},
      {"2", with(ExpertsCase{"", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, true, 33, 33, 256, 128, 1, 5},
                 "fp8_E33_expert_map_and_invalid_ids_T1", Routing::WithInvalidIds, 20)},
      {"2", with(ExpertsCase{"", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, true, 20, 20, 192, 160, 1, 6},
                 "expert_map_minus1_T1", Routing::Random, 7)},
      {"2", {"qwen3_fp8_w8a8grp_E40_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 40, 40, 2048, 768, 1,
             8}},
      {"1", {"mixtral_fp8_w8a8grp_I3584_T1", MOEKIT_WEIGHTS_FP8_BLOCK, kSilu, kBF16, kGrpQ, false, 8, 8, 4096, 3584,
             1, 2}},
  };
  uint64_t seed = 900;
  for (const Forced& f : cases) {
    SCOPED_TRACE(std::string(f.c.name) + ", " + f.splits + " split(s)");
    const ScopedEnv tier("MOEKIT_CUDA_EXPERTS_TIER", "stream"), splits("MOEKIT_CUDA_STREAM_DOWN_SPLITS", f.splits);
    ASSERT_TRUE(tier.ok() && splits.ok());
    ExpertsCase c = f.c;
    c.workspace_fill = 0xFF;
    check_case(cpu_, gpu_, c, seed++, "cuda-stream", f.splits[0] == '2' ? "(w2, 2 K splits)" : "(w2),");
  }
}

// The measuring knobs reject names they do not know, with the knob and its names in the message, at the workspace
// query and at the run, and leave the caller's output untouched: a misspelt tier or tile would otherwise be
// measured as the runner's own choice. The case runs the streaming tier by its own choice (16 rows per expert).
TEST_F(GpuTest, UnknownKnobNamesAreInvalidArguments) {
  const ExpertsCase c{"knobs", MOEKIT_WEIGHTS_BF16, kSilu, kBF16, kNoQ, false, 8, 8, 256, 128, 64, 2};
  ExpertsCaseData d = make_case(c, 77);
  moekit_experts ex = nullptr;
  MOEKIT_OK(moekit_experts_create(gpu_, &d.desc, &ex));
  const std::unique_ptr<moekit_experts_s, moekit_status (*)(moekit_experts)> owner(ex, moekit_experts_destroy);
  moekit_expert_weights w = weights_of(d, true);
  MOEKIT_OK(moekit_experts_set_weights(ex, &w, nullptr));
  size_t ws_bytes = 0;
  MOEKIT_OK(moekit_experts_workspace_size(ex, c.T, c.k, &ws_bytes));
  const size_t out_bytes = static_cast<size_t>(c.T * c.H) * 2;
  DeviceBuffer ws(ws_bytes), out(out_bytes, 0x5A);
  moekit_tensor h = d.hidden.gpu(), o = device_tensor(out.get(), c.hidden_dtype, {c.T, c.H});
  moekit_routing plan{};
  plan.struct_size = sizeof plan;
  plan.topk_weights = d.topk_w.gpu();
  plan.topk_ids = d.topk_ids.gpu();
  struct Knob {
    const char* name;
    const char* value;
  };
  for (const Knob knob : {Knob{"MOEKIT_CUDA_EXPERTS_TIER", "strem"}, Knob{"MOEKIT_CUDA_GROUPED_TILES", "128,64x128"},
                          Knob{"MOEKIT_CUDA_STREAM_DOWN_SPLITS", "3"}}) {
    const ScopedEnv env(knob.name, knob.value);
    ASSERT_TRUE(env.ok());
    const std::string expected = std::string(knob.name) + "='" + knob.value + "': unknown name (known: ";
    size_t bytes = 0;
    EXPECT_EQ(moekit_experts_workspace_size(ex, c.T, c.k, &bytes), MOEKIT_ERR_INVALID_ARGUMENT) << knob.name;
    const std::string size_error = moekit_last_error();
    EXPECT_NE(size_error.find(expected), std::string::npos) << size_error;
    moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
    EXPECT_EQ(moekit_experts_run(ex, &h, &plan, &o, ws.get(), ws_bytes, &report, nullptr), MOEKIT_ERR_INVALID_ARGUMENT)
        << knob.name;
    const std::string run_error = moekit_last_error();
    CUDA_OK(cudaDeviceSynchronize());
    EXPECT_NE(run_error.find(expected), std::string::npos) << run_error;
    for (uint8_t byte : out.download<uint8_t>(out_bytes)) ASSERT_EQ(byte, 0x5A) << knob.name << ": output written";
  }
  // Known names still run, and the report says what ran: the grouped tier (sm_90 only) with different tiles for
  // the two GEMMs, checked against the CPU backend like every forced tier.
  if (!device_is_sm90()) GTEST_SKIP() << "the knob errors passed; the grouped tier runs on sm_90 only";
  const ScopedEnv tier("MOEKIT_CUDA_EXPERTS_TIER", "grouped"), tiles("MOEKIT_CUDA_GROUPED_TILES", "64x128x128,128");
  ASSERT_TRUE(tier.ok() && tiles.ok());
  check_case(cpu_, gpu_, c, 78, "cuda-sm90-grouped-bf16", ", tile 64x128x128; GEMM2 tile 128; ");
}

}  // namespace
}  // namespace moekit_gpu_test
