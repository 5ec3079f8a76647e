// prepare_experts for the CUDA module: copies the caller's device weights into the runner's padded layout
// (experts_prepared.h) with a few grid-stride kernels, then synchronises the stream once (set_weights
// returns only when the caller's buffers are no longer read). Not a hot path.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "experts.h"
#include "kernel_launch.h"
#include "plugin_error.h"
#include "portability.h"
#include "weight_rows.h"

namespace moekit::cuda::experts {

namespace {

enum : int32_t { kSrcF32 = 0, kSrcF16 = 1, kSrcBF16 = 2, kSrcByte = 3 };
enum : int32_t { kDstBF16 = 0, kDstF16 = 1, kDstByte = 2 };

// dst [L][rows_out][cols_out] <- src [L][rows_in][cols_in] through `map`, zero padding; cols in elements of
// the destination (bytes for FP8 / packed MXFP4).
__global__ void pad_weights_kernel(const void* src, int32_t src_kind, void* dst, int32_t dst_kind, int64_t experts,
                                   int64_t rows_in, int64_t cols_in, int64_t rows_out, int64_t cols_out,
                                   RowMap map) {
  const int64_t total = experts * rows_out * cols_out;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = i % cols_out;
    const int64_t pr = (i / cols_out) % rows_out;
    const int64_t e = i / (cols_out * rows_out);
    const int64_t r = map.source(pr);
    const bool valid = r >= 0 && c < cols_in;
    const int64_t s = (e * rows_in + (valid ? r : 0)) * cols_in + (valid ? c : 0);
    if (dst_kind == kDstByte) {
      static_cast<uint8_t*>(dst)[i] = valid ? static_cast<const uint8_t*>(src)[s] : 0;
      continue;
    }
    float v = 0.0f;
    if (valid) {
      if (src_kind == kSrcF32) v = static_cast<const float*>(src)[s];
      else if (src_kind == kSrcF16) v = f16_to_f32(static_cast<const uint16_t*>(src)[s]);
      else v = bf16_to_f32(static_cast<const uint16_t*>(src)[s]);
    }
    // bf16/f16 sources convert exactly (same type); f32 -> bf16 rounds to nearest even.
    static_cast<uint16_t*>(dst)[i] = dst_kind == kDstBF16 ? f32_to_bf16(v) : f32_to_f16(v);
  }
}

// FP8 block scales (the caller's 128 x 128 blocks) -> one scale per unit of `unit_rows` padded weight rows from
// row0 on (rows below row_end): out[e][kb][u] = scales[e][r / 128][kb], r = scale_source_row of the unit (0 where
// it has no real row at an end). unit_rows = 1 gives the per-row copy; 128 a per-block copy, exact where
// weight_rows.h says so.
__global__ void fp8_scale_kernel(const float* scales, float* out, int64_t experts, int64_t units_out,
                                 int64_t unit_rows, int64_t row0, int64_t row_end, int64_t kb_count,
                                 int64_t scale_rows, RowMap map) {
  const int64_t total = experts * kb_count * units_out;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t u = i % units_out;
    const int64_t kb = (i / units_out) % kb_count;
    const int64_t e = i / (units_out * kb_count);
    const int64_t first = row0 + u * unit_rows, last = min(first + unit_rows, row_end) - 1;
    const int64_t r = scale_source_row(map, first, last);
    out[i] = r >= 0 ? scales[(e * scale_rows + r / 128) * kb_count + kb] : 0.0f;
  }
}

// MXFP4 e8m0 scales [e][rows][kt_in] -> out[e][kt][pr]; padding (rows or K tiles) gets 127 (= 1.0) over zero
// nibbles.
__global__ void mx_scale_kernel(const uint8_t* scales, uint8_t* out, int64_t experts, int64_t rows_in,
                                int64_t rows_out, int64_t kt_in, int64_t kt_out, RowMap map) {
  const int64_t total = experts * kt_out * rows_out;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t pr = i % rows_out;
    const int64_t kt = (i / rows_out) % kt_out;
    const int64_t e = i / (rows_out * kt_out);
    const int64_t r = map.source(pr);
    out[i] = (r >= 0 && kt < kt_in) ? scales[(e * rows_in + r) * kt_in + kt] : uint8_t{127};
  }
}

template <class T>
T* device_alloc(Prepared& p, int64_t count, const char* what) {
  void* ptr = nullptr;
  const cudaError_t err = cudaMalloc(&ptr, static_cast<size_t>(count) * sizeof(T));
  if (err != cudaSuccess) throw_cuda(err, what);  // throw_cuda clears the runtime's last error
  p.allocations.push_back(ptr);
  return static_cast<T*>(ptr);
}

int32_t src_kind_of(int32_t dtype) {
  switch (dtype) {
    case MOEKIT_PLUGIN_F32: return kSrcF32;
    case MOEKIT_PLUGIN_F16: return kSrcF16;
    case MOEKIT_PLUGIN_BF16: return kSrcBF16;
    default: return kSrcByte;
  }
}

void check(const char* what) { check_launch(what); }


}  // namespace

Prepared* prepare(const moekit_plugin_experts_config& cfg, const moekit_plugin_expert_weights& w,
                  cudaStream_t stream) {
  configure_gemm_kernels();
  auto* p = new Prepared();
  try {
    p->weight_format = cfg.weight_format;
    p->num_experts = cfg.num_experts;
    p->num_local = cfg.num_local_experts;
    p->hidden = cfg.hidden;
    p->intermediate = cfg.intermediate;
    p->hidden_pad = cfg.hidden_pad;
    p->intermediate_pad = cfg.intermediate_pad;
    const int64_t L = cfg.num_local_experts, H = cfg.hidden, I = cfg.intermediate;
    const int64_t Hp = cfg.hidden_pad, Ip = cfg.intermediate_pad;
    if (Hp % 128 != 0 || Ip % 128 != 0 || Hp < H || Ip < I)
      throw_internal("experts: padded sizes " + std::to_string(Hp) + " x " + std::to_string(Ip) +
                     " are not the CUDA contract's multiples of 128");
    switch (cfg.weight_format) {
      case 0: p->kind = WeightKind::Half16; p->compute = Compute::BF16; break;   // BF16
      case 1: p->kind = WeightKind::Half16; p->compute = Compute::F16; break;    // F16
      case 2: p->kind = WeightKind::Half16; p->compute = Compute::BF16; break;   // F32 -> bf16
      case 3: p->kind = WeightKind::Fp8; p->compute = Compute::BF16; break;      // FP8 128x128 blocks
      case 4: p->kind = WeightKind::Mxfp4; p->compute = Compute::BF16; break;    // MXFP4
      default: throw_unsupported("weight_format: unknown format " + std::to_string(cfg.weight_format));
    }
    const RowMap map13{true, Ip, I}, map2{false, 0, H};
    const int64_t n13 = L * 2 * Ip * Hp, n2 = L * Hp * Ip;
    const int threads = 256;
    if (p->kind == WeightKind::Half16) {
      const int32_t dst = p->compute == Compute::F16 ? kDstF16 : kDstBF16;
      p->w13 = device_alloc<uint16_t>(*p, n13, "experts: w13 copy");
      p->w2 = device_alloc<uint16_t>(*p, n2, "experts: w2 copy");
      pad_weights_kernel<<<grid_for(n13, threads), threads, 0, stream>>>(
          w.w13.data, src_kind_of(w.w13.dtype), p->w13, dst, L, 2 * I, H, 2 * Ip, Hp, map13);
      check("pad_weights_kernel (w13)");
      pad_weights_kernel<<<grid_for(n2, threads), threads, 0, stream>>>(
          w.w2.data, src_kind_of(w.w2.dtype), p->w2, dst, L, H, I, Hp, Ip, map2);
      check("pad_weights_kernel (w2)");
    } else if (p->kind == WeightKind::Fp8) {
      p->w13 = device_alloc<uint8_t>(*p, n13, "experts: w13 copy");
      p->w2 = device_alloc<uint8_t>(*p, n2, "experts: w2 copy");
      pad_weights_kernel<<<grid_for(n13, threads), threads, 0, stream>>>(w.w13.data, kSrcByte, p->w13, kDstByte, L,
                                                                          2 * I, H, 2 * Ip, Hp, map13);
      check("pad_weights_kernel (w13 fp8)");
      pad_weights_kernel<<<grid_for(n2, threads), threads, 0, stream>>>(w.w2.data, kSrcByte, p->w2, kDstByte, L, H,
                                                                         I, Hp, Ip, map2);
      check("pad_weights_kernel (w2 fp8)");
      const int64_t kb13 = Hp / 128, kb2 = Ip / 128;
      // The caller's scales are [E][ceil(rows / 128)][ceil(K / 128)], indexed with the padded K's block count:
      // the CUDA contract pads K to the next multiple of 128 and no further.
      if (kb13 != (H + 127) / 128 || kb2 != (I + 127) / 128)
        throw_internal("experts: FP8 scales need hidden_pad and intermediate_pad rounded up to 128 and no further");
      const int64_t scale_rows13 = (2 * I + 127) / 128, scale_rows2 = (H + 127) / 128;
      // One scale per unit of unit_rows padded weight rows, [L][kb][units].
      auto copy_scales = [&](const moekit_plugin_tensor& src, float* dst, int64_t units, int64_t unit_rows,
                             int64_t row0, int64_t row_end, int64_t kb, int64_t scale_rows, const RowMap& map,
                             const char* what) {
        const int64_t total = L * kb * units;
        fp8_scale_kernel<<<grid_for(total, threads), threads, 0, stream>>>(
            static_cast<const float*>(src.data), dst, L, units, unit_rows, row0, row_end, kb, scale_rows, map);
        check(what);
      };
      // Per row: the mma.sync and decode tiers, and GEMM1 of the sm90 grouped tier where the windows below are
      // not built.
      p->w13_col_scale = device_alloc<float>(*p, L * kb13 * 2 * Ip, "experts: w13 scales");
      p->w2_col_scale = device_alloc<float>(*p, L * kb2 * Hp, "experts: w2 scales");
      copy_scales(w.w13_scale, p->w13_col_scale, 2 * Ip, 1, 0, 2 * Ip, kb13, scale_rows13, map13,
                  "fp8_scale_kernel (w13)");
      copy_scales(w.w2_scale, p->w2_col_scale, Hp, 1, 0, Hp, kb2, scale_rows2, map2, "fp8_scale_kernel (w2)");
      // Per 128 x 128 block: the sm90 grouped GEMMs (one W scale per tile: one multiply-add per accumulator at
      // each K block instead of two) and the streaming tier (no per-row scale reads, 3.1 % of its weight bytes).
      // w2's padded blocks always match the caller's; w13's only when I % 128 == 0, else the up half starts
      // inside a caller block: the grouped tier's GEMM1 then runs as two windows with their own block scales.
      p->w2_block_scale = device_alloc<float>(*p, L * kb2 * (Hp / 128), "experts: w2 block scales");
      copy_scales(w.w2_scale, p->w2_block_scale, Hp / 128, 128, 0, Hp, kb2, scale_rows2, map2,
                  "fp8_scale_kernel (w2 blocks)");
      if (I % 128 == 0) {
        p->w13_block_scale = device_alloc<float>(*p, L * kb13 * (2 * Ip / 128), "experts: w13 block scales");
        copy_scales(w.w13_scale, p->w13_block_scale, 2 * Ip / 128, 128, 0, 2 * Ip, kb13, scale_rows13, map13,
                    "fp8_scale_kernel (w13 blocks)");
      } else if (w13_gemm1_windows(I)) {
        // The grouped tier's two GEMM1 windows (experts_prepared.h, weight_rows.h): gate rows [0, Ip) and the up
        // window from up_row0, whose 128-row blocks start where the caller's do.
        const int64_t up_row0 = w13_up_window_row0(I, Ip), up_units = (2 * Ip - up_row0 + 127) / 128;
        p->w13_gate_scale = device_alloc<float>(*p, L * kb13 * (Ip / 128), "experts: w13 gate block scales");
        p->w13_up_scale = device_alloc<float>(*p, L * kb13 * up_units, "experts: w13 up block scales");
        copy_scales(w.w13_scale, p->w13_gate_scale, Ip / 128, 128, 0, Ip, kb13, scale_rows13, map13,
                    "fp8_scale_kernel (w13 gate blocks)");
        copy_scales(w.w13_scale, p->w13_up_scale, up_units, 128, up_row0, 2 * Ip, kb13, scale_rows13, map13,
                    "fp8_scale_kernel (w13 up blocks)");
      }
    } else {
      p->w13 = device_alloc<uint8_t>(*p, n13 / 2, "experts: w13 copy");
      p->w2 = device_alloc<uint8_t>(*p, n2 / 2, "experts: w2 copy");
      pad_weights_kernel<<<grid_for(n13 / 2, threads), threads, 0, stream>>>(
          w.w13.data, kSrcByte, p->w13, kDstByte, L, 2 * I, H / 2, 2 * Ip, Hp / 2, map13);
      check("pad_weights_kernel (w13 mxfp4)");
      pad_weights_kernel<<<grid_for(n2 / 2, threads), threads, 0, stream>>>(w.w2.data, kSrcByte, p->w2, kDstByte, L,
                                                                             H, I / 2, Hp, Ip / 2, map2);
      check("pad_weights_kernel (w2 mxfp4)");
      p->w13_mx = device_alloc<uint8_t>(*p, L * (Hp / 32) * 2 * Ip, "experts: w13 scales");
      p->w2_mx = device_alloc<uint8_t>(*p, L * (Ip / 32) * Hp, "experts: w2 scales");
      mx_scale_kernel<<<grid_for(L * (Hp / 32) * 2 * Ip, threads), threads, 0, stream>>>(
          static_cast<const uint8_t*>(w.w13_scale.data), p->w13_mx, L, 2 * I, 2 * Ip, H / 32, Hp / 32, map13);
      check("mx_scale_kernel (w13)");
      mx_scale_kernel<<<grid_for(L * (Ip / 32) * Hp, threads), threads, 0, stream>>>(
          static_cast<const uint8_t*>(w.w2_scale.data), p->w2_mx, L, H, Hp, I / 32, Ip / 32, map2);
      check("mx_scale_kernel (w2)");
    }
    // Biases: f32, zeros when absent (the GEMM epilogues add them unconditionally).
    p->b13 = device_alloc<float>(*p, L * 2 * Ip, "experts: w13 bias");
    p->b2 = device_alloc<float>(*p, L * Hp, "experts: w2 bias");
    check_cuda(cudaMemsetAsync(p->b13, 0, static_cast<size_t>(L * 2 * Ip) * 4, stream), "cudaMemsetAsync");
    check_cuda(cudaMemsetAsync(p->b2, 0, static_cast<size_t>(L * Hp) * 4, stream), "cudaMemsetAsync");
    if (cfg.has_w13_bias && w.w13_bias.data != nullptr) {
      for (int64_t e = 0; e < L; ++e) {
        const float* src = static_cast<const float*>(w.w13_bias.data) + e * 2 * I;
        check_cuda(cudaMemcpyAsync(p->b13 + e * 2 * Ip, src, static_cast<size_t>(I) * 4, cudaMemcpyDeviceToDevice,
                                   stream), "cudaMemcpyAsync (w13 bias)");
        check_cuda(cudaMemcpyAsync(p->b13 + e * 2 * Ip + Ip, src + I, static_cast<size_t>(I) * 4,
                                   cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync (w13 bias)");
      }
    }
    if (cfg.has_w2_bias && w.w2_bias.data != nullptr)
      check_cuda(cudaMemcpy2DAsync(p->b2, static_cast<size_t>(Hp) * 4, w.w2_bias.data, static_cast<size_t>(H) * 4,
                                   static_cast<size_t>(H) * 4, static_cast<size_t>(L), cudaMemcpyDeviceToDevice,
                                   stream), "cudaMemcpy2DAsync (w2 bias)");
    // The global -> local expert map, on the device for the combine (host memory of cfg is valid only now).
    p->local_of = device_alloc<int32_t>(*p, cfg.num_experts, "experts: expert map");
    std::vector<int32_t> map(static_cast<size_t>(cfg.num_experts));
    for (int32_t e = 0; e < cfg.num_experts; ++e)
      map[static_cast<size_t>(e)] = cfg.expert_map != nullptr ? cfg.expert_map[e] : e;
    check_cuda(cudaMemcpyAsync(p->local_of, map.data(), map.size() * 4, cudaMemcpyHostToDevice, stream),
               "cudaMemcpyAsync (expert map)");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize (set_weights)");
    return p;
  } catch (...) {
    free_prepared(p);
    throw;
  }
}

void free_prepared(Prepared* p) noexcept {
  if (p == nullptr) return;
  for (void* ptr : p->allocations) cudaFree(ptr);
  delete p;
}

}  // namespace moekit::cuda::experts
