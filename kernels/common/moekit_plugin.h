/*
 * The device-backend plugin ABI: the one contract between libmoekit (core) and a device module
 * (libmoekit_cuda.so, later libmoekit_hip.so) that core dlopens at run time.
 *
 * Plain C with its own POD types: kernels never see the public C API's types, and core converts its own
 * types to these field by field. A module exports exactly one symbol, moekit_plugin_get_table, returning a
 * table of function pointers. Rules every function follows:
 *  - returns a moekit_plugin_status (int32_t) and, on failure, writes a NUL-terminated message that starts with
 *    the argument or operation name into the caller's buffer (msg, msg_capacity; truncated to fit);
 *  - never lets a C++ exception, a signal or an abort escape: no driver / no device is a status, not a crash;
 *  - MOEKIT_PLUGIN_UNSUPPORTED means "a valid request this module cannot run": core reports it to the user as
 *    MOEKIT_ERR_UNSUPPORTED with the module's message and never falls back silently to another backend;
 *  - arguments arrive validated by core (shapes, dtypes, devices, overflow); a module still guards every index;
 *  - device work is stream-ordered on the given stream (cudaStream_t / hipStream_t as void*, NULL = default
 *    stream) and does not synchronise with the host unless the function says so.
 * Compatibility: MOEKIT_PLUGIN_ABI_VERSION is bumped on any incompatible change; core rejects a module whose
 * table carries another version. Within one version the table only grows at its end (struct_size tells how
 * much of it a module fills).
 */
#ifndef MOEKIT_PLUGIN_H
#define MOEKIT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MOEKIT_PLUGIN_ABI_VERSION 1u
#define MOEKIT_PLUGIN_ENTRY_POINT "moekit_plugin_get_table"
#define MOEKIT_PLUGIN_MAX_RANK 8

/* Statuses (same numbering as moekit_status; core maps them explicitly). */
typedef enum moekit_plugin_status {
  MOEKIT_PLUGIN_OK = 0,
  MOEKIT_PLUGIN_INVALID_ARGUMENT = 1,
  MOEKIT_PLUGIN_UNSUPPORTED = 2,
  MOEKIT_PLUGIN_UNAVAILABLE = 3, /* no driver, no device, device not usable */
  MOEKIT_PLUGIN_OUT_OF_MEMORY = 4,
  MOEKIT_PLUGIN_DEVICE_ERROR = 5,
  MOEKIT_PLUGIN_INTERNAL = 6
} moekit_plugin_status;

/* Element types (same numbering as moekit_dtype). */
enum {
  MOEKIT_PLUGIN_F32 = 0,
  MOEKIT_PLUGIN_F16 = 1,
  MOEKIT_PLUGIN_BF16 = 2,
  MOEKIT_PLUGIN_F8_E4M3 = 3,
  MOEKIT_PLUGIN_F8_E5M2 = 4,
  MOEKIT_PLUGIN_E8M0 = 5,
  MOEKIT_PLUGIN_FP4X2 = 6,
  MOEKIT_PLUGIN_I32 = 7,
  MOEKIT_PLUGIN_I64 = 8,
  MOEKIT_PLUGIN_U8 = 9,
  MOEKIT_PLUGIN_U32 = 10
};

/* A row-major contiguous tensor in device memory of the context's device. data == NULL: absent. */
typedef struct moekit_plugin_tensor {
  void* data;
  int32_t dtype;
  int32_t rank;
  int64_t shape[MOEKIT_PLUGIN_MAX_RANK];
} moekit_plugin_tensor;

/* The platform contract (moekit_platform_contract without struct_size). */
typedef struct moekit_plugin_contract {
  int32_t block_size_m;
  int32_t hidden_align;
  int32_t intermediate_align;
  int32_t buffer_align_bytes;
  int32_t mx_block;
  int32_t fp8_block;
} moekit_plugin_contract;

/* Router configuration, validated and normalised by core (num_expert_groups >= 1, block_size >= 1). */
enum { MOEKIT_PLUGIN_SCORING_SOFTMAX = 0, MOEKIT_PLUGIN_SCORING_SIGMOID = 1 };
typedef struct moekit_plugin_router_config {
  int32_t num_experts;
  int32_t top_k;
  int32_t scoring;
  int32_t renormalize;
  int32_t num_expert_groups; /* 1 = no grouping */
  int32_t topk_groups;
  float routed_scaling_factor;
  int32_t block_size;
  const float* correction_bias; /* host memory, [num_experts] or NULL; valid for the duration of the call */
  const int32_t* expert_map;    /* host memory, [num_experts] or NULL; -1 = not local */
} moekit_plugin_router_config;

/* Routing plan buffers (see moekit_routing in moekit.h for their meaning). Absent ones have data == NULL. */
typedef struct moekit_plugin_routing {
  moekit_plugin_tensor topk_weights;
  moekit_plugin_tensor topk_ids;
  moekit_plugin_tensor bitmatrix;
  moekit_plugin_tensor expert_counts;
  moekit_plugin_tensor sorted_token_ids;
  moekit_plugin_tensor block_expert_ids;
  moekit_plugin_tensor num_tokens_post_padded;
} moekit_plugin_routing;

/* Quantizer configuration: scheme numbering of moekit_quant_scheme; group_size resolved (>= 1). */
enum {
  MOEKIT_PLUGIN_QUANT_FP8_PER_TENSOR = 0,
  MOEKIT_PLUGIN_QUANT_FP8_PER_TOKEN = 1,
  MOEKIT_PLUGIN_QUANT_FP8_PER_GROUP = 2,
  MOEKIT_PLUGIN_QUANT_FP8_BLOCK = 3,
  MOEKIT_PLUGIN_QUANT_MXFP4 = 4
};
typedef struct moekit_plugin_quantizer_config {
  int32_t scheme;
  int32_t group_size;
} moekit_plugin_quantizer_config;

/* Expert runner configuration (enums numbered as in moekit.h). */
typedef struct moekit_plugin_experts_config {
  int32_t num_experts;
  int32_t num_local_experts;
  int64_t hidden;
  int64_t intermediate;
  int64_t hidden_pad;
  int64_t intermediate_pad;
  int32_t activation;
  float swiglu_alpha;
  float swiglu_limit;
  int32_t weight_format;
  int32_t act_quant;
  int32_t has_w13_bias;
  int32_t has_w2_bias;
  int32_t apply_router_weight_on_input;
  const int32_t* expert_map; /* host memory, [num_experts]: global -> local id, -1 = not local */
} moekit_plugin_experts_config;

typedef struct moekit_plugin_expert_weights {
  moekit_plugin_tensor w13, w2, w13_scale, w2_scale, w13_bias, w2_bias;
} moekit_plugin_expert_weights;

typedef struct moekit_plugin_run_report {
  int64_t assignments;
  int64_t non_local_assignments;
  int64_t invalid_assignments;
  int32_t experts_touched;
  char kernel[64];   /* kernel path, e.g. "cuda-sm90-wgmma-bf16" */
  char detail[192];  /* tile configuration and why it was chosen */
} moekit_plugin_run_report;

typedef struct moekit_plugin_table {
  uint32_t abi_version; /* MOEKIT_PLUGIN_ABI_VERSION the module was built with */
  uint32_t struct_size; /* sizeof(moekit_plugin_table) the module was built with */
  const char* name;     /* "cuda", "hip" */
  int32_t device_type;  /* DLPack device type of its tensors: 2 = CUDA, 10 = ROCm */

  /* Devices visible. OK: *device_count >= 1 and `detail` describes them. UNAVAILABLE: `detail` gives the reason
   * ("no CUDA driver ...", "no CUDA device ..."). Never crashes without a driver or a device. */
  int32_t (*probe)(int32_t* device_count, char* detail, size_t detail_capacity);

  /* A device context: one device, its library handles and preallocated workspaces. One thread at a time. */
  int32_t (*context_create)(int32_t device_id, void** out_context, char* msg, size_t msg_capacity);
  int32_t (*context_destroy)(void* context, char* msg, size_t msg_capacity);
  int32_t (*context_describe)(void* context, char* out, size_t out_capacity);
  int32_t (*platform_contract)(void* context, moekit_plugin_contract* out, char* msg, size_t msg_capacity);

  /* Router: logits [T,E] f32/bf16/f16 -> every present tensor of the plan (topk_weights/topk_ids required). */
  int32_t (*route)(void* context, void* stream, const moekit_plugin_router_config* config,
                   const moekit_plugin_tensor* logits, const moekit_plugin_routing* plan, char* msg,
                   size_t msg_capacity);
  /* Plan metadata (bitmatrix, counts, sorted order) from plan->topk_ids. */
  int32_t (*build_plan)(void* context, void* stream, const moekit_plugin_router_config* config,
                        const moekit_plugin_routing* plan, char* msg, size_t msg_capacity);
  /* logits [T,E] f32 = hidden [T,H] @ w_gate [E,H]^T (+ bias [E] f32; bias NULL or absent: none). */
  int32_t (*router_gemm)(void* context, void* stream, const moekit_plugin_tensor* hidden,
                         const moekit_plugin_tensor* w_gate, const moekit_plugin_tensor* bias,
                         const moekit_plugin_tensor* logits, char* msg, size_t msg_capacity);

  int32_t (*quantize)(void* context, void* stream, const moekit_plugin_quantizer_config* config,
                      const moekit_plugin_tensor* input, const moekit_plugin_tensor* values,
                      const moekit_plugin_tensor* scales, char* msg, size_t msg_capacity);
  int32_t (*dequantize)(void* context, void* stream, const moekit_plugin_quantizer_config* config,
                        const moekit_plugin_tensor* values, const moekit_plugin_tensor* scales,
                        const moekit_plugin_tensor* output, char* msg, size_t msg_capacity);

  /* Expert runner. A module may answer UNSUPPORTED (with a message) for any of these. */
  int32_t (*prepare_experts)(void* context, void* stream, const moekit_plugin_experts_config* config,
                             const moekit_plugin_expert_weights* weights, void** out_prepared, char* msg,
                             size_t msg_capacity);
  int32_t (*free_experts)(void* context, void* prepared, char* msg, size_t msg_capacity);
  int32_t (*experts_workspace_size)(void* context, const moekit_plugin_experts_config* config, int64_t num_tokens,
                                    int32_t top_k, size_t* out_bytes, char* msg, size_t msg_capacity);
  int32_t (*run_experts)(void* context, void* stream, const moekit_plugin_experts_config* config, void* prepared,
                         const moekit_plugin_tensor* hidden, const moekit_plugin_routing* plan,
                         const moekit_plugin_tensor* out, void* workspace, size_t workspace_bytes,
                         moekit_plugin_run_report* report, char* msg, size_t msg_capacity);

  /* Device memory of the context's device, and stream synchronisation. */
  int32_t (*alloc)(void* context, size_t bytes, void** out, char* msg, size_t msg_capacity);
  int32_t (*free)(void* context, void* ptr, char* msg, size_t msg_capacity);
  int32_t (*stream_sync)(void* context, void* stream, char* msg, size_t msg_capacity);
} moekit_plugin_table;

/* The module's one exported symbol. Returns the module's table, or NULL if the module cannot serve
 * `abi_version`. Core passes MOEKIT_PLUGIN_ABI_VERSION and still checks the returned table's abi_version. */
typedef const moekit_plugin_table* (*moekit_plugin_get_table_fn)(uint32_t abi_version);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOEKIT_PLUGIN_H */
