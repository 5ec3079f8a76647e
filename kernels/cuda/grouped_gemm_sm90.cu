// CUTLASS 3.x grouped GEMMs for the prefill tier (see grouped_gemm_sm90.h). Compiled for sm_90a only.
#include <cuda_runtime.h>

#include <string>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/detail/blockwise_scale_layout.hpp"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/group_array_problem_shape.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/util/packed_stride.hpp"

#include "grouped_gemm_sm90.h"
#include "plugin_error.h"

namespace moekit::cuda::experts::sm90 {

namespace {

using namespace cute;

using ProblemShape = cutlass::gemm::GroupProblemShape<Shape<int, int, int>>;  // per group <M, N, K>
using ElementAB = cutlass::bfloat16_t;
using LayoutA = cutlass::layout::RowMajor;     // gathered rows [P, K]
using LayoutB = cutlass::layout::ColumnMajor;  // W[e] stored [N, K] row-major = K x N column-major
using LayoutD = cutlass::layout::RowMajor;     // [P, N]
constexpr int kAlignAB = 128 / cutlass::sizeof_bits<ElementAB>::value;

// Cooperative (two consumer warpgroups share a 128 x 256 tile, one producer warp feeds them through TMA), the
// configuration CUTLASS's own profiler favours for large bf16 GEMMs on H100-class parts. One CTA per cluster:
// groups are short along M (a few hundred rows per expert at prefill sizes), so multicast would save little.
using TileShape = Shape<_128, _256, _64>;
using ClusterShape = Shape<_1, _1, _1>;
using KernelSchedule = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperative;
using EpilogueSchedule = cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative;
// The report's configuration texts: kernel, schedule and tile. Every kernel runs unclustered (1x1x1;
// grouped_tiles.h lists the clusters tried), so the texts leave the cluster out and keep the report short.
constexpr const char* kConfiguration =
    "CUTLASS sm90 grouped GEMM: TMA wgmma, cooperative warp-specialised, tile 128x256x64";
// FP8: W's scales per 128 x 128 block, or per row (GEMM1 where its two windows are not built: I % 16 != 0 or
// I < 64, experts_prepared.h).
constexpr const char* kConfigurationFp8 =
    "CUTLASS sm90 grouped GEMM: TMA e4m3 wgmma, 128x128 W scales, cooperative, tile 128x128x128";
constexpr const char* kConfigurationFp8Rows =
    "CUTLASS sm90 grouped GEMM: TMA e4m3 wgmma, per-row W13 scales, cooperative, tile 128x128x128";
// The 64-row kernels (GroupedTile, grouped_tiles.h): ping-pong, 64x128x128 (bf16 and FP8) and 64x256x64
// (bf16).
using TileShape64 = Shape<_64, _128, _128>;
using TileShape64x256 = Shape<_64, _256, _64>;
using KernelSchedule64 = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedPingpong;
using EpilogueSchedule64 = cutlass::epilogue::PtrArrayTmaWarpSpecializedPingpong;
constexpr const char* kConfiguration64 =
    "CUTLASS sm90 grouped GEMM: TMA wgmma, ping-pong warp-specialised, tile 64x128x128";
constexpr const char* kConfiguration64x256 =
    "CUTLASS sm90 grouped GEMM: TMA wgmma, ping-pong warp-specialised, tile 64x256x64";
constexpr const char* kConfigurationFp8_64 =
    "CUTLASS sm90 grouped GEMM: TMA e4m3 wgmma, 128x128 W scales, ping-pong, tile 64x128x128";
constexpr const char* kConfigurationFp8Rows_64 =
    "CUTLASS sm90 grouped GEMM: TMA e4m3 wgmma, per-row W13 scales, ping-pong, tile 64x128x128";

// D is bf16 for both GEMMs: GEMM1's gate/up pre-activations and GEMM2's expert outputs are each rounded once,
// as vLLM's and the mma.sync tier's bf16 intermediates are; f32 outputs would double the largest memory streams
// of a prefill layer (P x 2Ip and P x Hp) for no accuracy the tests need (experts_case.h's tolerance).
template <class ElementD, class TileShape = ::moekit::cuda::experts::sm90::TileShape,
          class KernelSchedule = ::moekit::cuda::experts::sm90::KernelSchedule,
          class EpilogueSchedule = ::moekit::cuda::experts::sm90::EpilogueSchedule>
struct GroupedKernel {
  static constexpr bool kBlockScaled = false;  // mainloop arguments without scales
  static constexpr int kAlignD = 128 / cutlass::sizeof_bits<ElementD>::value;
  // No C operand (void): D = A @ B, nothing read back.
  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, TileShape, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, void, LayoutD*, kAlignD, ElementD, LayoutD*,
      kAlignD, EpilogueSchedule, cutlass::epilogue::fusion::LinearCombination<ElementD, float>>::CollectiveOp;
  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, ElementAB, LayoutA*, kAlignAB, ElementAB, LayoutB*,
      kAlignAB, float, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      KernelSchedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<ProblemShape, CollectiveMainloop, CollectiveEpilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
  using StrideA = typename Kernel::InternalStrideA;
  using StrideB = typename Kernel::InternalStrideB;
  using StrideD = typename Kernel::InternalStrideD;
};

using Bf16Out = GroupedKernel<cutlass::bfloat16_t>;
using Bf16Out64 = GroupedKernel<cutlass::bfloat16_t, TileShape64, KernelSchedule64, EpilogueSchedule64>;
using Bf16Out64x256 = GroupedKernel<cutlass::bfloat16_t, TileShape64x256, KernelSchedule64, EpilogueSchedule64>;

// FP8 e4m3 x e4m3 with block scales applied to the f32 accumulators after every 128-wide K block (CUTLASS's
// blockwise-scaled grouped GEMM): A's scales per row and K block (the FP8 activation quantizer's 1 x 128 groups,
// or one per token repeated along K); W's per 128 x 128 block (kScaleN = 128: the prepared block copy,
// experts_prepared.h; GEMM1 where I % 128 != 0 runs as two windows whose 128-row blocks are the caller's,
// experts_run.cu), or per weight row and K block (kScaleN = 1: the per-row copy, for GEMM1 where the windows are
// not built, weight_rows.h). A 128-wide tile then has one W scale, which the main loop folds into A's before it
// promotes: one multiply-add per accumulator per K block, where per-row W scales cost a multiply more and 32 more
// shared loads per thread. Scales are MN-major (rows contiguous). 128 x 128 x 128 tiles: one scale promotion per
// K tile. D: f32 for GEMM1 (its outputs are quantized to FP8 again after the activation, and a bf16 rounding
// before that moves values across e4m3 rounding boundaries: measured on the H200, rms error vs the CPU backend
// 0.05-0.15 with bf16, against 3e-5 for the mma.sync tier's f32), bf16 for GEMM2.
template <class ElementD, int ScaleN, class Tile = Shape<_128, _128, _128>,
          class KernelSchedule = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperativeFP8Blockwise,
          class EpilogueSchedule = ::moekit::cuda::experts::sm90::EpilogueSchedule>
struct Fp8Kernel {
  static constexpr bool kBlockScaled = true;  // mainloop arguments with A's and W's block scales
  static constexpr int kScaleN = ScaleN;      // W rows per scale: 1 or 128
  using Element = cutlass::float_e4m3_t;
  static constexpr int kAlign = 128 / cutlass::sizeof_bits<Element>::value;
  using ScaleConfig = cutlass::detail::Sm90BlockwiseScaleConfig<1, ScaleN, 128>;
  using LayoutSFA = decltype(ScaleConfig::deduce_layoutSFA());
  using LayoutSFB = decltype(ScaleConfig::deduce_layoutSFB());
  static constexpr int kAlignD = 128 / cutlass::sizeof_bits<ElementD>::value;
  using CollectiveEpilogue = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, ClusterShape,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, void, LayoutD*, kAlignD, ElementD,
      LayoutD*, kAlignD, EpilogueSchedule,
      cutlass::epilogue::fusion::LinearCombination<ElementD, float>>::CollectiveOp;
  using CollectiveMainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Element, cute::tuple<LayoutA*, LayoutSFA*>, kAlign,
      Element, cute::tuple<LayoutB*, LayoutSFB*>, kAlign, float, Tile, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename CollectiveEpilogue::SharedStorage))>,
      KernelSchedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<ProblemShape, CollectiveMainloop, CollectiveEpilogue>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
  using StrideA = typename Kernel::InternalStrideA;
  using StrideB = typename Kernel::InternalStrideB;
  using StrideD = typename Kernel::InternalStrideD;
};
// GEMM1 (f32 out) with per-row or per-block W scales; GEMM2 (bf16 out) always has w2's block scales. Tried for
// gpt-oss-120b's GEMM1 (I = 2880: its padded 64-row halves lie in one caller block) before the two windows, and not
// built: W scales per 64 rows (ScaleGranularityN = 64, two per 128-wide tile); CUTLASS 4.2's sm90 blockwise main
// loop does not compile it (fp8_accumulation.hpp: "Accumulator and scaleB must have same shape").
using PingpongFp8 = cutlass::gemm::KernelPtrArrayTmaWarpSpecializedPingpongFP8Blockwise;
using Fp8F32OutRows = Fp8Kernel<float, 1>;
using Fp8F32Out64Rows = Fp8Kernel<float, 1, TileShape64, PingpongFp8, EpilogueSchedule64>;
using Fp8F32OutBlocks = Fp8Kernel<float, 128>;
using Fp8F32Out64Blocks = Fp8Kernel<float, 128, TileShape64, PingpongFp8, EpilogueSchedule64>;
using Fp8Bf16OutBlocks = Fp8Kernel<cutlass::bfloat16_t, 128>;
using Fp8Bf16Out64Blocks = Fp8Kernel<cutlass::bfloat16_t, 128, TileShape64, PingpongFp8, EpilogueSchedule64>;
// One set of per-group arrays serves every kernel: the same stride types, and the same scale layouts for FP8.
template <class K>
constexpr bool kSameArrays = std::is_same<typename K::StrideA, Bf16Out::StrideA>::value &&
                             std::is_same<typename K::StrideB, Bf16Out::StrideB>::value &&
                             std::is_same<typename K::StrideD, Bf16Out::StrideD>::value;
// Every FP8 kernel has A's scale layout; W's is the per-row or the per-block one (RefSFB's).
template <class K, class RefSFB>
constexpr bool kSameScales = std::is_same<typename K::LayoutSFA, Fp8F32OutRows::LayoutSFA>::value &&
                             std::is_same<typename K::LayoutSFB, typename RefSFB::LayoutSFB>::value;
static_assert(kSameArrays<Bf16Out64> && kSameArrays<Bf16Out64x256> && kSameArrays<Fp8F32OutRows> &&
                  kSameArrays<Fp8F32Out64Rows> && kSameArrays<Fp8F32OutBlocks> && kSameArrays<Fp8F32Out64Blocks> &&
                  kSameArrays<Fp8Bf16OutBlocks> && kSameArrays<Fp8Bf16Out64Blocks>,
              "stride types differ");
static_assert(kSameScales<Fp8F32Out64Rows, Fp8F32OutRows> && kSameScales<Fp8F32Out64Blocks, Fp8F32OutBlocks> &&
                  kSameScales<Fp8Bf16OutBlocks, Fp8F32OutBlocks> && kSameScales<Fp8Bf16Out64Blocks, Fp8F32OutBlocks>,
              "scale layouts differ");

// The per-group arrays CUTLASS reads: problem shapes, operand pointers and strides.
struct GroupArrays {
  ProblemShape::UnderlyingProblemShape* shapes;
  const void** a;
  const void** b;
  void** d;
  const float** sfa;  // FP8 only
  const float** sfb;
  Fp8F32OutRows::LayoutSFA* layout_sfa;
  Fp8F32OutRows::LayoutSFB* layout_sfb;           // W scales per row
  Fp8F32OutBlocks::LayoutSFB* layout_sfb_blocks;  // W scales per 128 x 128 block
  Bf16Out::StrideA* stride_a;
  Bf16Out::StrideB* stride_b;
  Bf16Out::StrideD* stride_d;
};

constexpr size_t kAlign = 256;
size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

struct ScratchLayout {
  size_t shapes = 0, a = 0, b = 0, d = 0, stride_a = 0, stride_b = 0, stride_d = 0, sfa = 0, sfb = 0, layout_sfa = 0,
         layout_sfb = 0, layout_sfb_blocks = 0, cutlass = 0, total = 0;
};

ScratchLayout scratch_layout(int32_t groups) {
  ScratchLayout l;
  size_t at = 0;
  auto take = [&](size_t bytes) {
    const size_t start = at;
    at = round_up(at + bytes);
    return start;
  };
  const size_t g = static_cast<size_t>(groups);
  l.shapes = take(g * sizeof(ProblemShape::UnderlyingProblemShape));
  l.a = take(g * sizeof(void*));
  l.b = take(g * sizeof(void*));
  l.d = take(g * sizeof(void*));
  l.stride_a = take(g * sizeof(Bf16Out::StrideA));
  l.stride_b = take(g * sizeof(Bf16Out::StrideB));
  l.stride_d = take(g * sizeof(Bf16Out::StrideD));
  l.sfa = take(g * sizeof(void*));
  l.sfb = take(g * sizeof(void*));
  l.layout_sfa = take(g * sizeof(Fp8F32OutRows::LayoutSFA));
  l.layout_sfb = take(g * sizeof(Fp8F32OutRows::LayoutSFB));
  l.layout_sfb_blocks = take(g * sizeof(Fp8F32OutBlocks::LayoutSFB));
  l.cutlass = at;
  l.total = at;
  return l;
}

GroupArrays arrays_at(void* scratch, const ScratchLayout& l) {
  char* base = static_cast<char*>(scratch);
  GroupArrays g;
  g.shapes = reinterpret_cast<ProblemShape::UnderlyingProblemShape*>(base + l.shapes);
  g.a = reinterpret_cast<const void**>(base + l.a);
  g.b = reinterpret_cast<const void**>(base + l.b);
  g.d = reinterpret_cast<void**>(base + l.d);
  g.stride_a = reinterpret_cast<Bf16Out::StrideA*>(base + l.stride_a);
  g.stride_b = reinterpret_cast<Bf16Out::StrideB*>(base + l.stride_b);
  g.stride_d = reinterpret_cast<Bf16Out::StrideD*>(base + l.stride_d);
  g.sfa = reinterpret_cast<const float**>(base + l.sfa);
  g.sfb = reinterpret_cast<const float**>(base + l.sfb);
  g.layout_sfa = reinterpret_cast<Fp8F32OutRows::LayoutSFA*>(base + l.layout_sfa);
  g.layout_sfb = reinterpret_cast<Fp8F32OutRows::LayoutSFB*>(base + l.layout_sfb);
  g.layout_sfb_blocks = reinterpret_cast<Fp8F32OutBlocks::LayoutSFB*>(base + l.layout_sfb_blocks);
  return g;
}

struct SetupParams {
  GroupedPlan plan;
  GroupArrays out;
  const char* a;
  const char* w;
  char* d;
  int64_t ab_elem_bytes;  // 2 (bf16) or 1 (e4m3)
  int64_t d_elem_bytes;   // 2 (bf16) or 4 (f32)
  int32_t n, k;
  int64_t w_row0, w_expert_rows;  // the window's first weight row, and weight rows per expert
  int64_t d_col0, ldd;            // the window's first D column, and D's row stride (elements)
  const float* a_scale;   // FP8: per group, compact [k/128][m] at first_row * (k/128)
  const float* w_scale;   // FP8: [L][k/128][n], or [L][k/128][ceil(n/128)] with w_scale_blocks
  bool w_scale_blocks;
};

constexpr int kSetupThreads = 256;

// One thread per group: its problem (m = the expert's real rows, from the plan's group extents) and operand
// pointers (B and D at the window's first weight row and D column); an expert without rows gets m = 0 and
// pointers that are never dereferenced. FP8 scales: W's are [k/128][n] per expert ([k/128][ceil(n/128)] with
// w_scale_blocks); A's were written per group, compact, at first_row * (k/128) (experts_row_kernels.cuh's gather
// and activation quantizer), the layout CUTLASS's blockwise mainloop derives from (m, k) itself.
__global__ void __launch_bounds__(kSetupThreads) grouped_setup_kernel(SetupParams p) {
  const GroupedPlan& plan = p.plan;
  for (int32_t e = threadIdx.x; e < plan.num_local; e += blockDim.x) {
    const int64_t first = plan.first_row[e];
    const int m = plan.rows[e];
    p.out.shapes[e] = make_shape(m, p.n, p.k);
    p.out.a[e] = p.a + first * p.k * p.ab_elem_bytes;
    p.out.b[e] = p.w + (static_cast<int64_t>(e) * p.w_expert_rows + p.w_row0) * p.k * p.ab_elem_bytes;
    p.out.d[e] = p.d + (first * p.ldd + p.d_col0) * p.d_elem_bytes;
    if (p.a_scale != nullptr) {
      p.out.sfa[e] = p.a_scale + first * (p.k / 128);
      p.out.sfb[e] =
          p.w_scale + static_cast<int64_t>(e) * (p.k / 128) * (p.w_scale_blocks ? (p.n + 127) / 128 : p.n);
      p.out.layout_sfa[e] = Fp8F32OutRows::ScaleConfig::tile_atom_to_shape_SFA(make_shape(m, p.n, p.k, 1));
      if (p.w_scale_blocks)
        p.out.layout_sfb_blocks[e] =
            Fp8F32OutBlocks::ScaleConfig::tile_atom_to_shape_SFB(make_shape(m, p.n, p.k, 1));
      else
        p.out.layout_sfb[e] = Fp8F32OutRows::ScaleConfig::tile_atom_to_shape_SFB(make_shape(m, p.n, p.k, 1));
    }
    p.out.stride_a[e] = cutlass::make_cute_packed_stride(Bf16Out::StrideA{}, make_shape(1, p.k, 1));
    p.out.stride_b[e] = cutlass::make_cute_packed_stride(Bf16Out::StrideB{}, make_shape(p.n, p.k, 1));
    p.out.stride_d[e] =
        cutlass::make_cute_packed_stride(Bf16Out::StrideD{}, make_shape(1, static_cast<int>(p.ldd), 1));
  }
}

template <class K>
typename K::Gemm::Arguments arguments_for(const GroupArrays& g, int32_t groups, int sm_count, int device) {
  typename K::Gemm::Arguments args;
  decltype(args.epilogue.thread) fusion{};
  fusion.alpha = 1.0f;
  fusion.beta = 0.0f;
  cutlass::KernelHardwareInfo hw;
  hw.device_id = device;
  hw.sm_count = sm_count;
  using ElementA = typename K::Gemm::ElementA;
  using ElementB = typename K::Gemm::ElementB;
  using ElementD = typename K::Gemm::ElementD;
  typename K::Gemm::GemmKernel::MainloopArguments mainloop;
  if constexpr (K::kBlockScaled) {
    auto* layout_sfb = [&] {
      if constexpr (K::kScaleN == 128) return g.layout_sfb_blocks;
      else return g.layout_sfb;
    }();
    mainloop = {reinterpret_cast<const ElementA**>(g.a), g.stride_a, reinterpret_cast<const ElementB**>(g.b),
                g.stride_b, g.sfa, g.layout_sfa, g.sfb, layout_sfb};
  } else {
    mainloop = {reinterpret_cast<const ElementA**>(g.a), g.stride_a, reinterpret_cast<const ElementB**>(g.b),
                g.stride_b};
  }
  args = typename K::Gemm::Arguments{
      cutlass::gemm::GemmUniversalMode::kGrouped,
      {groups, g.shapes, nullptr},  // no host copy of the shapes: the device computed them
      mainloop,
      {fusion, nullptr, g.stride_d, reinterpret_cast<ElementD**>(g.d), g.stride_d},
      hw};
  return args;
}

template <class K>
size_t cutlass_workspace(int32_t groups, int sm_count) {
  GroupArrays none{};
  return K::Gemm::get_workspace_size(arguments_for<K>(none, groups, sm_count, 0));
}

template <class K>
void run_cutlass(const GroupArrays& g, int32_t groups, int sm_count, void* workspace, cudaStream_t stream) {
  int device = 0;
  check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  typename K::Gemm gemm;
  const auto args = arguments_for<K>(g, groups, sm_count, device);
  cutlass::Status s = gemm.can_implement(args);
  if (s != cutlass::Status::kSuccess)
    throw_unsupported(std::string("CUTLASS grouped GEMM refused the problem: ") + cutlassGetStatusString(s));
  s = gemm.initialize(args, workspace, stream);
  if (s != cutlass::Status::kSuccess)
    throw PluginError(MOEKIT_PLUGIN_DEVICE_ERROR,
                      std::string("CUTLASS grouped GEMM initialize failed: ") + cutlassGetStatusString(s));
  s = gemm.run(stream);
  if (s != cutlass::Status::kSuccess)
    throw PluginError(MOEKIT_PLUGIN_DEVICE_ERROR,
                      std::string("CUTLASS grouped GEMM launch failed: ") + cutlassGetStatusString(s));
  check_cuda(cudaGetLastError(), "CUTLASS grouped GEMM launch");
}

}  // namespace

bool compiled() { return true; }

size_t scratch_bytes(int32_t num_local, int sm_count) {
  size_t w = 0;  // one workspace serves whichever kernel runs
  for (size_t v : {cutlass_workspace<Bf16Out>(num_local, sm_count), cutlass_workspace<Bf16Out64>(num_local, sm_count),
                   cutlass_workspace<Bf16Out64x256>(num_local, sm_count),
                   cutlass_workspace<Fp8F32OutRows>(num_local, sm_count),
                   cutlass_workspace<Fp8F32Out64Rows>(num_local, sm_count),
                   cutlass_workspace<Fp8F32OutBlocks>(num_local, sm_count),
                   cutlass_workspace<Fp8F32Out64Blocks>(num_local, sm_count),
                   cutlass_workspace<Fp8Bf16OutBlocks>(num_local, sm_count),
                   cutlass_workspace<Fp8Bf16Out64Blocks>(num_local, sm_count)})
    w = v > w ? v : w;
  return scratch_layout(num_local).total + round_up(w);
}

const char* configuration(bool fp8, GroupedTile tile, bool w13_row_scales) {
  if (fp8 && w13_row_scales) return tile == GroupedTile::k128 ? kConfigurationFp8Rows : kConfigurationFp8Rows_64;
  if (fp8) return tile == GroupedTile::k128 ? kConfigurationFp8 : kConfigurationFp8_64;  // 64x256x64: bf16 only
  if (tile == GroupedTile::k64x128x128) return kConfiguration64;
  return tile == GroupedTile::k64x256x64 ? kConfiguration64x256 : kConfiguration;
}

void run(const GroupedPlan& plan, const GroupedGemm& gemm, void* scratch, size_t scratch_bytes_available,
         int sm_count, cudaStream_t stream) {
  if (scratch_bytes_available < scratch_bytes(plan.num_local, sm_count))
    throw PluginError(MOEKIT_PLUGIN_INTERNAL, "grouped GEMM scratch smaller than sm90::scratch_bytes");
  const bool fp8 = gemm.a_scale != nullptr;
  if (gemm.n % 16 != 0 || gemm.k % 128 != 0 || gemm.n > INT32_MAX || gemm.k > INT32_MAX)
    throw_unsupported("CUTLASS grouped GEMM: n must be a multiple of 16 and k of 128, below 2^31");
  if (fp8 && gemm.w_scale == nullptr) throw_internal("CUTLASS FP8 grouped GEMM without weight scales");
  if (fp8 && !gemm.d_f32 && !gemm.w_scale_blocks)
    throw_internal("CUTLASS FP8 grouped GEMM: bf16 output is built with block weight scales only");
  if (gemm.w_scale_blocks && !fp8) throw_internal("CUTLASS grouped GEMM: block weight scales are for FP8 only");
  if (gemm.d_f32 && !fp8) throw_internal("CUTLASS grouped GEMM: f32 output is built for the FP8 kernel only");
  const int64_t w_expert_rows = gemm.w_expert_rows != 0 ? gemm.w_expert_rows : gemm.n;
  const int64_t ldd = gemm.ldd != 0 ? gemm.ldd : gemm.n;
  const int64_t d_elem = gemm.d_f32 ? 4 : 2;
  // TMA: 16-byte aligned bases and row strides (D's window start and row stride in whole 16-byte units).
  const bool window_inside = gemm.w_row0 >= 0 && gemm.w_row0 + gemm.n <= w_expert_rows && gemm.d_col0 >= 0 &&
                             gemm.d_col0 + gemm.n <= ldd && ldd <= INT32_MAX;
  if (!window_inside || (gemm.d_col0 * d_elem) % 16 != 0 || (ldd * d_elem) % 16 != 0)
    throw_internal("CUTLASS grouped GEMM: window outside the weights or D, or not 16-byte aligned");
  // Per-row W scales are indexed as one compact [k/128][n] array per expert: the whole weights only.
  if (fp8 && !gemm.w_scale_blocks && (gemm.w_row0 != 0 || w_expert_rows != gemm.n))
    throw_internal("CUTLASS FP8 grouped GEMM: a window of the weights takes block scales only");
  const ScratchLayout l = scratch_layout(plan.num_local);
  const GroupArrays g = arrays_at(scratch, l);
  SetupParams sp{};
  sp.plan = plan;
  sp.out = g;
  sp.a = static_cast<const char*>(gemm.a);
  sp.w = static_cast<const char*>(gemm.w);
  sp.d = static_cast<char*>(gemm.d);
  sp.ab_elem_bytes = fp8 ? 1 : 2;
  sp.d_elem_bytes = gemm.d_f32 ? 4 : 2;
  sp.a_scale = gemm.a_scale;
  sp.w_scale = gemm.w_scale;
  sp.w_scale_blocks = gemm.w_scale_blocks;
  sp.w_row0 = gemm.w_row0;
  sp.w_expert_rows = w_expert_rows;
  sp.d_col0 = gemm.d_col0;
  sp.ldd = ldd;
  sp.n = static_cast<int32_t>(gemm.n);
  sp.k = static_cast<int32_t>(gemm.k);
  grouped_setup_kernel<<<1, kSetupThreads, 0, stream>>>(sp);
  check_cuda(cudaGetLastError(), "grouped_setup_kernel launch");
  void* workspace = static_cast<char*>(scratch) + l.cutlass;
  const bool rows64 = gemm.tile != GroupedTile::k128;  // FP8 has one 64-row kernel, 64x128x128
  const int32_t groups = plan.num_local;
  if (fp8 && gemm.d_f32 && gemm.w_scale_blocks) {
    if (rows64) run_cutlass<Fp8F32Out64Blocks>(g, groups, sm_count, workspace, stream);
    else run_cutlass<Fp8F32OutBlocks>(g, groups, sm_count, workspace, stream);
  } else if (fp8 && gemm.d_f32) {
    if (rows64) run_cutlass<Fp8F32Out64Rows>(g, groups, sm_count, workspace, stream);
    else run_cutlass<Fp8F32OutRows>(g, groups, sm_count, workspace, stream);
  } else if (fp8) {
    if (rows64) run_cutlass<Fp8Bf16Out64Blocks>(g, groups, sm_count, workspace, stream);
    else run_cutlass<Fp8Bf16OutBlocks>(g, groups, sm_count, workspace, stream);
  } else if (gemm.tile == GroupedTile::k64x128x128) {
    run_cutlass<Bf16Out64>(g, groups, sm_count, workspace, stream);
  } else if (gemm.tile == GroupedTile::k64x256x64) {
    run_cutlass<Bf16Out64x256>(g, groups, sm_count, workspace, stream);
  } else {
    run_cutlass<Bf16Out>(g, groups, sm_count, workspace, stream);
  }
}

}  // namespace moekit::cuda::experts::sm90
