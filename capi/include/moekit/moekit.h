/*
 * moekit — Mixture-of-Experts inference kernels behind a stable C ABI.
 *
 * This header is the whole public surface. It is plain C99 and compiles as C and as C++.
 *
 * Conventions
 *  - Every function returns a moekit_status. On failure it sets a thread-local message that names the
 *    offending argument and why (moekit_last_error()), and leaves every output buffer untouched.
 *  - Handles are opaque pointers. Objects are created with moekit_<object>_create and freed exactly once with
 *    moekit_<object>_destroy (destroying NULL is a no-op that returns MOEKIT_OK).
 *  - Descriptor and info structs begin with `struct_size`: set it to sizeof(the struct) you compiled against
 *    (the *_INIT macros do). A newer library accepts an older, smaller struct; fields are only ever appended.
 *  - Calls that could run on a device take a stream (cudaStream_t / hipStream_t as void*); the CPU backend
 *    ignores it. CPU calls are synchronous.
 *  - Thread-safety: a handle may be used by one thread at a time ("one handle per thread"); distinct handles
 *    may be used concurrently.
 */
#ifndef MOEKIT_MOEKIT_H
#define MOEKIT_MOEKIT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define MOEKIT_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MOEKIT_API __attribute__((visibility("default")))
#else
#define MOEKIT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Version and ABI */
/** @{ */
#define MOEKIT_VERSION_MAJOR 1
#define MOEKIT_VERSION_MINOR 0
#define MOEKIT_VERSION_PATCH 0
/** ABI version: bumped (with the SONAME, libmoekit.so.<major>) only on an incompatible change. */
#define MOEKIT_ABI_VERSION 1

/** Library version at run time (any pointer may be NULL). */
MOEKIT_API void moekit_version(int32_t* major, int32_t* minor, int32_t* patch);
/** Library version string, e.g. "1.0.0". Static storage. */
MOEKIT_API const char* moekit_version_string(void);
/** ABI version of the loaded library; compare with MOEKIT_ABI_VERSION. */
MOEKIT_API int32_t moekit_abi_version(void);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Errors */
/** @{ */
typedef enum moekit_status {
  MOEKIT_OK = 0,
  MOEKIT_ERR_INVALID_ARGUMENT = 1,    /**< an argument is null, of the wrong dtype/shape/device, or out of range */
  MOEKIT_ERR_UNSUPPORTED = 2,         /**< a valid configuration this backend cannot run exactly */
  MOEKIT_ERR_BACKEND_UNAVAILABLE = 3, /**< backend module missing, no driver, or no device */
  MOEKIT_ERR_OUT_OF_MEMORY = 4,
  MOEKIT_ERR_DEVICE = 5,              /**< a device runtime call failed */
  MOEKIT_ERR_INTERNAL = 6             /**< a bug in moekit: please report it with the message */
} moekit_status;

/** Short name of a status ("invalid argument"). Static storage; unknown codes give "unknown status". */
MOEKIT_API const char* moekit_status_string(moekit_status status);
/** Message of the last failed call on this thread ("" if none). Valid until the next moekit call on this thread. */
MOEKIT_API const char* moekit_last_error(void);
/** Clears this thread's last-error message. */
MOEKIT_API void moekit_clear_error(void);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Tensors (DLPack-compatible description of caller memory; moekit never takes ownership) */
/** @{ */
#define MOEKIT_MAX_RANK 8

typedef enum moekit_dtype {
  MOEKIT_DTYPE_F32 = 0,
  MOEKIT_DTYPE_F16 = 1,
  MOEKIT_DTYPE_BF16 = 2,
  MOEKIT_DTYPE_F8_E4M3FN = 3,  /**< OCP FP8 E4M3, finite-only (max 448, NaN = S.1111.111) */
  MOEKIT_DTYPE_F8_E5M2 = 4,    /**< OCP FP8 E5M2 (IEEE-like, max 57344) */
  MOEKIT_DTYPE_E8M0 = 5,       /**< OCP MX shared scale: 2^(byte-127), 0xFF = NaN */
  MOEKIT_DTYPE_FP4_E2M1X2 = 6, /**< two FP4 E2M1 values per byte; low nibble = even index. Shapes count bytes. */
  MOEKIT_DTYPE_I32 = 7,
  MOEKIT_DTYPE_I64 = 8,
  MOEKIT_DTYPE_U8 = 9,
  MOEKIT_DTYPE_U32 = 10
} moekit_dtype;

/** Device kinds use DLPack's DLDeviceType numbering. */
typedef enum moekit_device_type {
  MOEKIT_DEVICE_CPU = 1,
  MOEKIT_DEVICE_CUDA = 2,
  MOEKIT_DEVICE_ROCM = 10
} moekit_device_type;

/**
 * A strided view of caller memory, with DLPack semantics: `strides` count elements (not bytes); element (i0..in)
 * lives at data + sum(i_k * strides[k]) * element_size. For MOEKIT_DTYPE_FP4_E2M1X2 an element is one byte (two
 * values). Entries of shape/strides beyond `rank` are ignored. moekit currently requires row-major contiguous
 * tensors and rejects others with MOEKIT_ERR_INVALID_ARGUMENT naming the argument.
 */
typedef struct moekit_tensor {
  void* data;
  moekit_dtype dtype;
  int32_t rank; /**< 0..MOEKIT_MAX_RANK */
  int64_t shape[MOEKIT_MAX_RANK];
  int64_t strides[MOEKIT_MAX_RANK];
  moekit_device_type device_type;
  int32_t device_id;
} moekit_tensor;

/** Fills `t` as a row-major contiguous CPU tensor (set device_type/device_id afterwards for device memory). */
MOEKIT_API moekit_status moekit_tensor_init(moekit_tensor* t, void* data, moekit_dtype dtype, int32_t rank,
                                            const int64_t* shape);
/** Size in bytes of one element of `dtype` (1 for FP4_E2M1X2, which packs two values), 0 if unknown. */
MOEKIT_API size_t moekit_dtype_size(moekit_dtype dtype);
/** Name of a dtype ("bfloat16"). Static storage. */
MOEKIT_API const char* moekit_dtype_name(moekit_dtype dtype);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Context and backends */
/** @{ */
typedef enum moekit_backend {
  MOEKIT_BACKEND_AUTO = 0, /**< the best available: CUDA, then HIP, then CPU */
  MOEKIT_BACKEND_CPU = 1,
  MOEKIT_BACKEND_CUDA = 2,
  MOEKIT_BACKEND_HIP = 3
} moekit_backend;

#define MOEKIT_BACKEND_COUNT 3 /**< CPU, CUDA, HIP */

typedef struct moekit_context_s* moekit_context;

/** What a backend is and, if unavailable, why. */
typedef struct moekit_backend_info {
  size_t struct_size;
  moekit_backend backend;
  int32_t available;    /**< 1 if a context can be created on it */
  int32_t device_count; /**< devices visible (1 for CPU) */
  char name[32];        /**< "cpu", "cuda", "hip" */
  char detail[256];     /**< available: device / library description; unavailable: the reason */
} moekit_backend_info;
#define MOEKIT_BACKEND_INFO_INIT {sizeof(moekit_backend_info), MOEKIT_BACKEND_CPU, 0, 0, {0}, {0}}

/** Describes one backend (never fails for a known backend: unavailability is reported in `info`). */
MOEKIT_API moekit_status moekit_backend_query(moekit_backend backend, moekit_backend_info* info);

/** Creates a context on `backend` (AUTO picks the best available) and device `device_id` (0 for CPU). */
MOEKIT_API moekit_status moekit_context_create(moekit_backend backend, int32_t device_id, moekit_context* out);
MOEKIT_API moekit_status moekit_context_destroy(moekit_context ctx);
/** The backend and device a context runs on. Either output may be NULL. */
MOEKIT_API moekit_status moekit_context_get_backend(moekit_context ctx, moekit_backend* backend, int32_t* device_id);
/** CPU worker threads used by this context (default: hardware concurrency). n >= 1. */
MOEKIT_API moekit_status moekit_context_set_num_threads(moekit_context ctx, int32_t n);
MOEKIT_API moekit_status moekit_context_get_num_threads(moekit_context ctx, int32_t* n);

/**
 * The platform contract: every block size, alignment and padding the backend uses, computed in one place per
 * backend. Buffers the caller allocates for routing plans and padded weights follow these values.
 */
typedef struct moekit_platform_contract {
  size_t struct_size;
  int32_t block_size_m;       /**< rows per block of the padded expert-sorted order (moe_align_block_size) */
  int32_t hidden_align;       /**< hidden_pad = round_up(hidden, hidden_align) */
  int32_t intermediate_align; /**< intermediate_pad = round_up(intermediate, intermediate_align) */
  int32_t buffer_align_bytes; /**< required alignment of workspace pointers */
  int32_t mx_block;           /**< values per MXFP4 scale (32) */
  int32_t fp8_block;          /**< FP8 group / weight block edge (128) */
} moekit_platform_contract;
#define MOEKIT_PLATFORM_CONTRACT_INIT {sizeof(moekit_platform_contract), 0, 0, 0, 0, 0, 0}

MOEKIT_API moekit_status moekit_context_platform_contract(moekit_context ctx, moekit_platform_contract* out);
/** Padded sizes the expert runner uses for hidden and intermediate (either output may be NULL). */
MOEKIT_API moekit_status moekit_context_padded_sizes(moekit_context ctx, int64_t hidden, int64_t intermediate,
                                                     int64_t* hidden_pad, int64_t* intermediate_pad);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Router */
/** @{ */
typedef enum moekit_scoring {
  MOEKIT_SCORING_SOFTMAX = 0, /**< softmax over all experts, then top-k */
  MOEKIT_SCORING_SIGMOID = 1  /**< sigmoid per expert (+ correction bias for selection only), then top-k */
} moekit_scoring;

/**
 * Router configuration. Selection: top-k of score (+ correction_bias for sigmoid/bias routing), ties to the
 * lowest expert id, NaN scores rank below every number; topk_ids come in selection order (best first). With
 * num_expert_groups > 1 (DeepSeek-V3), experts are split into equal groups, each group scored by the sum of its
 * two best (biased) scores (its only score for one-expert groups), and only experts of the topk_groups best groups
 * are eligible (group ties: lower group index). Weights are the unbiased scores of the chosen experts, divided by
 * their sum if renormalize (and the sum is > 0), then multiplied by routed_scaling_factor.
 * Scores are computed in float: softmax subtracts the row maximum and sums in double. Without bias and grouping
 * the order is that of the exact scores (that is, of the logits), so rounding never creates false ties.
 * Non-finite logits: a NaN logit scores NaN (it takes no part in the softmax and, if chosen because k exceeds the
 * numbers in the row, weighs 0); if the softmax row maximum is +Inf, the experts holding it share 1 equally and the
 * others score 0 (the limit); a row of only -Inf (and NaN) shares 1 equally among its -Inf experts. No weight is
 * ever NaN. correction_bias must be finite; routed_scaling_factor must be finite.
 */
typedef struct moekit_router_desc {
  size_t struct_size;
  int32_t num_experts;          /**< 1 <= E <= 65536 */
  int32_t top_k;                /**< 1 <= k <= E */
  moekit_scoring scoring;
  int32_t renormalize;          /**< 0 or 1 */
  int32_t num_expert_groups;    /**< 0 or 1 = no grouping; else divides E */
  int32_t topk_groups;          /**< groups kept when grouping (1..num_expert_groups; k <= topk_groups * E/groups) */
  float routed_scaling_factor;  /**< multiplies the final weights (1.0 for none) */
  const float* correction_bias; /**< optional [E] host array, copied at create */
  const int32_t* expert_map;    /**< optional [E] host array: global id -> local id, -1 = not local; copied */
  int32_t block_size;           /**< rows per block of the sorted order (<= 2^20); 0 = the platform contract's */
} moekit_router_desc;
#define MOEKIT_ROUTER_DESC_INIT {sizeof(moekit_router_desc), 0, 0, MOEKIT_SCORING_SOFTMAX, 0, 0, 0, 1.0f, NULL, NULL, 0}

typedef struct moekit_router_s* moekit_router;

/**
 * Routing plan buffers, written by moekit_router_run. topk_weights/topk_ids are required; the rest are optional
 * (data == NULL skips them; the sorted order needs sorted_token_ids, block_expert_ids and num_tokens_post_padded
 * together). Sizes for T tokens: see moekit_router_plan_sizes.
 *  - topk_weights [T,k] f32, topk_ids [T,k] i32 (global expert ids)
 *  - bitmatrix [T, ceil(E/32)] u32: bit e%32 of word e/32 in row t is set iff token t chose expert e
 *  - expert_counts [E] i32: assignments per expert
 *  - sorted_token_ids [max_sorted] i32: flat indices t*k+j grouped by expert id ascending (increasing flat index
 *    within an expert), each expert's run padded to a multiple of block_size with the value T*k
 *    (moe_align_block_size semantics); entries past the padded total hold T*k too
 *  - block_expert_ids [max_blocks] i32: expert id (global) of each block; -1 after the padded total or for
 *    experts the expert_map marks non-local
 *  - num_tokens_post_padded [1] i32: the padded total
 * Ids outside [0, E) (possible only in caller-supplied plans) never set a bit, count, or touch memory.
 */
typedef struct moekit_routing {
  size_t struct_size;
  moekit_tensor topk_weights;
  moekit_tensor topk_ids;
  moekit_tensor bitmatrix;
  moekit_tensor expert_counts;
  moekit_tensor sorted_token_ids;
  moekit_tensor block_expert_ids;
  moekit_tensor num_tokens_post_padded;
} moekit_routing;

MOEKIT_API moekit_status moekit_router_create(moekit_context ctx, const moekit_router_desc* desc, moekit_router* out);
MOEKIT_API moekit_status moekit_router_destroy(moekit_router router);
/**
 * Block size the router pads with, and the sizes of the sorted-order buffers for num_tokens tokens:
 * max_sorted = round_up(T*k + E*(block_size-1), block_size), max_blocks = max_sorted / block_size. Fails (outputs
 * untouched) if num_tokens < 0 or max_sorted exceeds INT32_MAX (the plan's indices are int32). Outputs may be NULL.
 */
MOEKIT_API moekit_status moekit_router_plan_sizes(moekit_router router, int64_t num_tokens, int32_t* block_size,
                                                  int64_t* max_sorted, int64_t* max_blocks);
/** Routes logits [T,E] (f32, bf16 or f16) into the plan buffers. */
MOEKIT_API moekit_status moekit_router_run(moekit_router router, const moekit_tensor* logits, moekit_routing* plan,
                                           void* stream);
/**
 * Builds the metadata part of a plan (bitmatrix, counts, sorted order) from caller-supplied topk_ids [T,k] i32
 * (plan->topk_ids). Ids outside [0,E) are ignored (never set a bit, never touch memory). topk_weights is optional
 * here and never written.
 */
MOEKIT_API moekit_status moekit_router_build_plan(moekit_router router, moekit_routing* plan, void* stream);

/**
 * Router GEMM: logits[T,E] (f32) = hidden[T,H] @ w_gate[E,H]^T (+ bias[E]), f32 accumulation. hidden and w_gate
 * share a dtype (f32, bf16 or f16); bias (f32, optional: NULL) too.
 */
MOEKIT_API moekit_status moekit_router_gemm(moekit_context ctx, const moekit_tensor* hidden,
                                            const moekit_tensor* w_gate, const moekit_tensor* bias,
                                            moekit_tensor* logits, void* stream);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Quantizer */
/** @{ */
/** FP8 E4M3 largest finite value; scales are amax * (1.0f / MOEKIT_FP8_E4M3_MAX). */
#define MOEKIT_FP8_E4M3_MAX 448.0f
/** Smallest FP8 scale: scale = max(amax * (1/448), MOEKIT_FP8_MIN_SCALE), so an all-zero group never divides by 0. */
#define MOEKIT_FP8_MIN_SCALE (1.0f / (448.0f * 512.0f))

typedef enum moekit_quant_scheme {
  MOEKIT_QUANT_FP8_PER_TENSOR = 0,  /**< one f32 scale for the whole [M,K] input: scales [1,1] */
  MOEKIT_QUANT_FP8_PER_TOKEN = 1,   /**< one scale per row: scales [M,1] */
  MOEKIT_QUANT_FP8_PER_GROUP = 2,   /**< one scale per 1 x group_size of a row: scales [M, ceil(K/g)] */
  MOEKIT_QUANT_FP8_BLOCK = 3,       /**< one scale per block_size x block_size block: scales [ceil(M/b), ceil(K/b)] */
  MOEKIT_QUANT_MXFP4 = 4            /**< OCP MX v1.0 FP4 E2M1, one E8M0 per 32 values: values [M,K/2] u8, scales [M,K/32] */
} moekit_quant_scheme;

/**
 * Quantizer configuration. Every backend computes these bit for bit; bf16/f16 inputs are first widened to f32.
 * FP8: scale = max(amax * (1.0f/448.0f), MOEKIT_FP8_MIN_SCALE), an f32 product, where amax ignores NaN and ±Inf
 * (no finite value: amax = 0); q = x / scale as an IEEE f32 division, then rounded to nearest even E4M3 and
 * saturated to ±448; ±Inf saturates to ±448; NaN stays NaN (code 0x7F with the sign of x). Partial groups and
 * blocks at the matrix edges get their own scale from the values they hold.
 * MXFP4: shared exponent X = floor(log2(amax)) - 2 (clamped to [-127, 127]), amax over finite values (all zero:
 * X = -127); values x / 2^X rounded to nearest even E2M1 and saturated to ±6, keeping the sign of x (a negative
 * value that rounds to 0 is stored as -0); ±Inf saturates; a block containing NaN gets the NaN scale 0xFF (it
 * dequantizes to NaN), its values being encoded as above with NaN as +0. K must be a multiple of 32.
 * Dequantization: decoded value * scale as an f32 product, then rounded to nearest even in the output dtype.
 */
typedef struct moekit_quantizer_desc {
  size_t struct_size;
  moekit_quant_scheme scheme;
  int32_t group_size; /**< FP8_PER_GROUP group / FP8_BLOCK edge; 0 = 128 */
} moekit_quantizer_desc;
#define MOEKIT_QUANTIZER_DESC_INIT {sizeof(moekit_quantizer_desc), MOEKIT_QUANT_FP8_PER_TOKEN, 0}

typedef struct moekit_quantizer_s* moekit_quantizer;

MOEKIT_API moekit_status moekit_quantizer_create(moekit_context ctx, const moekit_quantizer_desc* desc,
                                                 moekit_quantizer* out);
MOEKIT_API moekit_status moekit_quantizer_destroy(moekit_quantizer q);
/** Shapes of the value and scale tensors that quantizing a [rows, cols] input produces (2-D each). */
MOEKIT_API moekit_status moekit_quantizer_output_shapes(moekit_quantizer q, int64_t rows, int64_t cols,
                                                        int64_t values_shape[2], int64_t scales_shape[2]);
/** input [M,K] (f32/bf16/f16) -> values (f8e4m3 [M,K] or fp4x2 [M,K/2]) and scales (f32, or e8m0 for MXFP4). */
MOEKIT_API moekit_status moekit_quantize(moekit_quantizer q, const moekit_tensor* input, moekit_tensor* values,
                                         moekit_tensor* scales, void* stream);
/** values + scales -> output [M,K] (f32/bf16/f16), the exact inverse mapping (value * scale). */
MOEKIT_API moekit_status moekit_dequantize(moekit_quantizer q, const moekit_tensor* values,
                                           const moekit_tensor* scales, moekit_tensor* output, void* stream);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Expert runner */
/** @{ */
typedef enum moekit_activation {
  MOEKIT_ACTIVATION_SILU_MUL = 0,  /**< silu(gate) * up */
  MOEKIT_ACTIVATION_GELU_MUL = 1,  /**< gelu_erf(gate) * up */
  MOEKIT_ACTIVATION_SWIGLU_OAI = 2 /**< gpt-oss: g = min(gate, limit), u = clamp(up, -limit, limit),
                                        g * sigmoid(alpha * g) * (u + 1) */
} moekit_activation;

typedef enum moekit_weight_format {
  MOEKIT_WEIGHTS_BF16 = 0,
  MOEKIT_WEIGHTS_F16 = 1,
  MOEKIT_WEIGHTS_F32 = 2,
  MOEKIT_WEIGHTS_FP8_BLOCK = 3, /**< f8e4m3 values + f32 scales per 128x128 block of each expert matrix */
  MOEKIT_WEIGHTS_MXFP4 = 4      /**< fp4x2 values + e8m0 scales per 32 values along the reduction dim */
} moekit_weight_format;

typedef enum moekit_act_quant {
  MOEKIT_ACT_QUANT_NONE = 0,
  MOEKIT_ACT_QUANT_FP8_PER_TOKEN = 1, /**< GEMM inputs quantized to FP8 with one scale per row */
  MOEKIT_ACT_QUANT_FP8_PER_GROUP = 2  /**< GEMM inputs quantized to FP8 with one scale per 1x128 group */
} moekit_act_quant;

/** Expert runner configuration. */
typedef struct moekit_experts_desc {
  size_t struct_size;
  int32_t num_experts;        /**< global E */
  int32_t num_local_experts;  /**< experts held here; == E without expert_map */
  int64_t hidden_size;        /**< H */
  int64_t intermediate_size;  /**< I */
  moekit_activation activation;
  float swiglu_alpha;         /**< SWIGLU_OAI only (gpt-oss: 1.702) */
  float swiglu_limit;         /**< SWIGLU_OAI only (gpt-oss: 7.0) */
  moekit_weight_format weight_format;
  moekit_act_quant act_quant;
  int32_t has_w13_bias;
  int32_t has_w2_bias;
  int32_t apply_router_weight_on_input; /**< scale the input rows by the weight instead of the output (k == 1) */
  const int32_t* expert_map;  /**< optional [E] host array: global -> local id, -1 = not local; copied */
} moekit_experts_desc;
#define MOEKIT_EXPERTS_DESC_INIT \
  {sizeof(moekit_experts_desc), 0, 0, 0, 0, MOEKIT_ACTIVATION_SILU_MUL, 1.702f, 7.0f, MOEKIT_WEIGHTS_BF16, \
   MOEKIT_ACT_QUANT_NONE, 0, 0, 0, NULL}

/**
 * Expert weights, per local expert (L = num_local_experts). The runner copies them into its own layout and
 * padding; the caller may free them after moekit_experts_set_weights returns.
 *  - w13 [L, 2I, H]: rows [0, I) are the gate projection, rows [I, 2I) the up projection
 *    (MXFP4: [L, 2I, H/2] fp4x2)
 *  - w2 [L, H, I] (MXFP4: [L, H, I/2])
 *  - w13_scale / w2_scale: FP8_BLOCK f32 [L, ceil(2I/128), ceil(H/128)] / [L, ceil(H/128), ceil(I/128)];
 *    MXFP4 e8m0 [L, 2I, H/32] / [L, H, I/32]; unused (data NULL) otherwise
 *  - w13_bias [L, 2I] f32, w2_bias [L, H] f32 when the descriptor asks for them
 */
typedef struct moekit_expert_weights {
  size_t struct_size;
  moekit_tensor w13;
  moekit_tensor w2;
  moekit_tensor w13_scale;
  moekit_tensor w2_scale;
  moekit_tensor w13_bias;
  moekit_tensor w2_bias;
} moekit_expert_weights;

/** What a run did. */
typedef struct moekit_run_report {
  size_t struct_size;
  int64_t assignments;          /**< (token, expert) pairs with a valid expert id */
  int64_t non_local_assignments; /**< pairs routed to experts not held here (contributed nothing) */
  int64_t invalid_assignments;  /**< pairs with an id outside [0, E) (dropped tokens) */
  int32_t experts_touched;      /**< distinct local experts that received at least one token */
  char kernel[64];              /**< the kernel path that ran ("cpu-openblas-sgemm") */
  char detail[192];             /**< its tile configuration / parameters and why they were chosen */
} moekit_run_report;
#define MOEKIT_RUN_REPORT_INIT {sizeof(moekit_run_report), 0, 0, 0, 0, {0}, {0}}

typedef struct moekit_experts_s* moekit_experts;

MOEKIT_API moekit_status moekit_experts_create(moekit_context ctx, const moekit_experts_desc* desc,
                                               moekit_experts* out);
MOEKIT_API moekit_status moekit_experts_destroy(moekit_experts experts);
MOEKIT_API moekit_status moekit_experts_set_weights(moekit_experts experts, const moekit_expert_weights* weights,
                                                    void* stream);
/** Workspace bytes moekit_experts_run needs for num_tokens tokens with top_k experts each. */
MOEKIT_API moekit_status moekit_experts_workspace_size(moekit_experts experts, int64_t num_tokens, int32_t top_k,
                                                       size_t* bytes);
/**
 * out[T,H] = sum_j topk_weights[t,j] * expert_{topk_ids[t,j]}(hidden[t]) over local experts. hidden and out are
 * f32, bf16 or f16 (the same dtype). plan needs topk_weights and topk_ids; the rest of it is optional.
 * workspace: at least moekit_experts_workspace_size bytes aligned to the contract's buffer_align_bytes (NULL if 0).
 * report may be NULL.
 */
MOEKIT_API moekit_status moekit_experts_run(moekit_experts experts, const moekit_tensor* hidden,
                                            const moekit_routing* plan, moekit_tensor* out, void* workspace,
                                            size_t workspace_bytes, moekit_run_report* report, void* stream);

/** Workspace bytes of moekit_moe_forward (routing plan + experts) for num_tokens tokens. */
MOEKIT_API moekit_status moekit_moe_forward_workspace_size(moekit_router router, moekit_experts experts,
                                                           int64_t num_tokens, size_t* bytes);
/** One MoE layer: route logits [T,E], then run the experts on hidden [T,H] into out [T,H]. */
MOEKIT_API moekit_status moekit_moe_forward(moekit_router router, moekit_experts experts, const moekit_tensor* hidden,
                                            const moekit_tensor* logits, moekit_tensor* out, void* workspace,
                                            size_t workspace_bytes, moekit_run_report* report, void* stream);
/** @} */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOEKIT_MOEKIT_H */
