/**
 * \file moekit.h
 * \brief moekit — Mixture-of-Experts inference kernels behind a stable C ABI.
 *
 * This header is the whole public surface. It is plain C99 and compiles as C and as C++. Link with
 * `-lmoekit` (`pkg-config --cflags --libs moekit`, or `find_package(moekit)` + `moekit::moekit` in CMake); the
 * library is `libmoekit.so.1`, and every symbol it exports is declared here.
 *
 * \par Errors
 * Every function that can fail returns a ::moekit_status. On failure it sets a thread-local message that names
 * the offending argument and why (moekit_last_error()), and leaves every output buffer and output struct
 * untouched. No C++ exception ever crosses this interface.
 *
 * \par Ownership
 * Handles (::moekit_context, ::moekit_router, ::moekit_quantizer, ::moekit_experts) are opaque pointers owned
 * by the caller: create them with `moekit_<object>_create` and free each exactly once with
 * `moekit_<object>_destroy` (destroying NULL is a no-op that returns ::MOEKIT_OK). A router, quantizer or
 * expert runner keeps its context alive internally, so the context may be destroyed before them. Tensors
 * (::moekit_tensor) only describe caller memory: moekit never takes ownership of it and never keeps a pointer
 * to it after a call returns (descriptor arrays and expert weights are copied).
 *
 * \par Descriptor structs
 * Descriptor, info and report structs begin with `struct_size`: set it to sizeof(the struct) you compiled
 * against (the `*_INIT` macros do). A newer library accepts an older, smaller struct; fields are only ever
 * appended (see the ABI policy page, abi.md).
 *
 * \par Streams
 * Calls that could run on a device take a `stream` (a `cudaStream_t` / `hipStream_t` passed as `void*`; NULL =
 * the default stream). On a device backend the work is stream-ordered on that stream and returns without
 * waiting for it, unless a function says otherwise; tensors must then live on the context's device. The CPU
 * backend ignores the stream and is synchronous: outputs are complete when the call returns.
 *
 * \par Thread-safety
 * A handle may be used by one thread at a time ("one handle per thread"): calls on one handle from several
 * threads must be serialised by the caller. Distinct handles, even on one context, may be used concurrently.
 * Functions without a handle (version, status strings, moekit_backend_query, moekit_tensor_init) are
 * thread-safe. The last-error message is per thread.
 */
#ifndef MOEKIT_MOEKIT_H
#define MOEKIT_MOEKIT_H

#include <stddef.h>
#include <stdint.h>

/** \cond MOEKIT_INTERNAL */
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
/** \endcond */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Version and ABI */
/** @{ */
/** Major version of this header: the library version (not the ABI) it was shipped with. */
#define MOEKIT_VERSION_MAJOR 1
/** Minor version of this header: bumped by releases that add to the API compatibly. */
#define MOEKIT_VERSION_MINOR 0
/** Patch version of this header: bumped by releases that only fix bugs. */
#define MOEKIT_VERSION_PATCH 0
/** ABI version: bumped (with the SONAME, libmoekit.so.N) only on an incompatible change. */
#define MOEKIT_ABI_VERSION 1

/**
 * Library version at run time (which may be newer than this header's MOEKIT_VERSION_*). Thread-safe.
 * \param[out] major  receives the major version; may be NULL
 * \param[out] minor  receives the minor version; may be NULL
 * \param[out] patch  receives the patch version; may be NULL
 */
MOEKIT_API void moekit_version(int32_t* major, int32_t* minor, int32_t* patch);
/**
 * Library version string, e.g. "1.0.0". Thread-safe.
 * \return a NUL-terminated string in static storage (never NULL; do not free it)
 */
MOEKIT_API const char* moekit_version_string(void);
/**
 * ABI version of the loaded library; compare with MOEKIT_ABI_VERSION to detect a header/library mismatch
 * (a program that dlopens libmoekit should). Thread-safe.
 * \return the ABI version (1 for libmoekit.so.1)
 */
MOEKIT_API int32_t moekit_abi_version(void);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Errors */
/** @{ */
/** Result of every fallible call. Numbering is part of the ABI: values never change meaning. */
typedef enum moekit_status {
  MOEKIT_OK = 0,                      /**< success */
  MOEKIT_ERR_INVALID_ARGUMENT = 1,    /**< an argument is null, of the wrong dtype/shape/device, or out of range */
  MOEKIT_ERR_UNSUPPORTED = 2,         /**< a valid configuration this backend cannot run exactly */
  MOEKIT_ERR_BACKEND_UNAVAILABLE = 3, /**< backend module missing, no driver, or no device */
  MOEKIT_ERR_OUT_OF_MEMORY = 4,       /**< a host or device allocation failed */
  MOEKIT_ERR_DEVICE = 5,              /**< a device runtime call failed */
  MOEKIT_ERR_INTERNAL = 6             /**< a bug in moekit: please report it with the message */
} moekit_status;

/**
 * Short name of a status ("invalid argument"). Thread-safe.
 * \param[in] status  any value, including unknown ones
 * \return a string in static storage; "unknown status" for values outside ::moekit_status
 */
MOEKIT_API const char* moekit_status_string(moekit_status status);
/**
 * Message of the last failed call on this thread, naming the argument and the problem
 * ("topk_ids: dtype must be int32, got float32"). Successful calls do not clear it.
 * \return a NUL-terminated string ("" if no call failed yet) owned by the library, valid until the next moekit
 *         call on this thread; copy it to keep it
 */
MOEKIT_API const char* moekit_last_error(void);
/** Clears this thread's last-error message (moekit_last_error() then returns ""). */
MOEKIT_API void moekit_clear_error(void);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Tensors (DLPack-compatible description of caller memory; moekit never takes ownership) */
/** @{ */
/** Largest tensor rank moekit_tensor can describe. */
#define MOEKIT_MAX_RANK 8

/** Element types. Numbering is part of the ABI; new types are only appended. */
typedef enum moekit_dtype {
  MOEKIT_DTYPE_F32 = 0,        /**< IEEE binary32 */
  MOEKIT_DTYPE_F16 = 1,        /**< IEEE binary16 */
  MOEKIT_DTYPE_BF16 = 2,       /**< bfloat16 (the upper half of a binary32) */
  MOEKIT_DTYPE_F8_E4M3FN = 3,  /**< OCP FP8 E4M3, finite-only (max 448, NaN = S.1111.111) */
  MOEKIT_DTYPE_F8_E5M2 = 4,    /**< OCP FP8 E5M2 (IEEE-like, max 57344) */
  MOEKIT_DTYPE_E8M0 = 5,       /**< OCP MX shared scale: 2^(byte-127), 0xFF = NaN */
  MOEKIT_DTYPE_FP4_E2M1X2 = 6, /**< two FP4 E2M1 values per byte; low nibble = even index. Shapes count bytes. */
  MOEKIT_DTYPE_I32 = 7,        /**< int32_t */
  MOEKIT_DTYPE_I64 = 8,        /**< int64_t */
  MOEKIT_DTYPE_U8 = 9,         /**< uint8_t */
  MOEKIT_DTYPE_U32 = 10        /**< uint32_t (routing bitmatrix words) */
} moekit_dtype;

/** Device kinds use DLPack's DLDeviceType numbering. */
typedef enum moekit_device_type {
  MOEKIT_DEVICE_CPU = 1,  /**< host memory (kDLCPU) */
  MOEKIT_DEVICE_CUDA = 2, /**< CUDA device memory (kDLCUDA) */
  MOEKIT_DEVICE_ROCM = 10 /**< ROCm/HIP device memory (kDLROCM) */
} moekit_device_type;

/**
 * A strided view of caller memory, with DLPack semantics: `strides` count elements (not bytes); element (i0..in)
 * lives at data + sum(i_k * strides[k]) * element_size. For MOEKIT_DTYPE_FP4_E2M1X2 an element is one byte (two
 * values). Entries of shape/strides beyond `rank` are ignored. moekit currently requires row-major contiguous
 * tensors and rejects others with MOEKIT_ERR_INVALID_ARGUMENT naming the argument.
 * The struct has no size field and never changes within an ABI version. moekit never owns `data`.
 */
typedef struct moekit_tensor {
  void* data;                      /**< first element; NULL marks an optional tensor as absent */
  moekit_dtype dtype;              /**< element type */
  int32_t rank;                    /**< 0..MOEKIT_MAX_RANK */
  int64_t shape[MOEKIT_MAX_RANK];  /**< extent of each dimension (>= 0); entries past rank are ignored */
  int64_t strides[MOEKIT_MAX_RANK]; /**< step of each dimension in elements; entries past rank are ignored */
  moekit_device_type device_type;  /**< where `data` lives; must match the context's backend */
  int32_t device_id;               /**< device ordinal (0 for CPU) */
} moekit_tensor;

/**
 * Fills `t` as a row-major contiguous CPU tensor (set device_type/device_id afterwards for device memory).
 * Thread-safe. `data` is only recorded, not read.
 * \param[out] t      the tensor to fill; untouched on failure
 * \param[in]  data   caller memory (may be NULL for an absent optional tensor or an empty one)
 * \param[in]  dtype  element type
 * \param[in]  rank   number of dimensions, 0..MOEKIT_MAX_RANK
 * \param[in]  shape  `rank` extents, each >= 0 (may be NULL when rank is 0)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT (null t, unknown dtype, rank out of range, negative or
 *         overflowing shape)
 */
MOEKIT_API moekit_status moekit_tensor_init(moekit_tensor* t, void* data, moekit_dtype dtype, int32_t rank,
                                            const int64_t* shape);
/**
 * Size in bytes of one element. Thread-safe.
 * \param[in] dtype  element type
 * \return the size (1 for FP4_E2M1X2, which packs two values), 0 if `dtype` is unknown
 */
MOEKIT_API size_t moekit_dtype_size(moekit_dtype dtype);
/**
 * Name of a dtype ("bfloat16"), as used in error messages. Thread-safe.
 * \param[in] dtype  element type
 * \return a string in static storage; "unknown" for values outside ::moekit_dtype
 */
MOEKIT_API const char* moekit_dtype_name(moekit_dtype dtype);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Context and backends */
/** @{ */
/** Compute backends. Device backends are modules loaded at run time (see the backends guide, backends.md). */
typedef enum moekit_backend {
  MOEKIT_BACKEND_AUTO = 0, /**< the best available: CUDA, then HIP, then CPU */
  MOEKIT_BACKEND_CPU = 1,  /**< the built-in CPU backend (always available; the reference) */
  MOEKIT_BACKEND_CUDA = 2, /**< NVIDIA GPUs through libmoekit_cuda.so */
  MOEKIT_BACKEND_HIP = 3   /**< AMD GPUs through libmoekit_hip.so */
} moekit_backend;

#define MOEKIT_BACKEND_COUNT 3 /**< number of concrete backends: CPU, CUDA, HIP */

/**
 * A context: one backend on one device, with its platform contract and CPU thread count. Opaque; create with
 * moekit_context_create(), free with moekit_context_destroy(). Routers, quantizers and expert runners created
 * on it keep it alive.
 */
typedef struct moekit_context_s* moekit_context;

/** What a backend is and, if unavailable, why (filled by moekit_backend_query()). */
typedef struct moekit_backend_info {
  size_t struct_size;   /**< [in] sizeof(moekit_backend_info) of the caller (MOEKIT_BACKEND_INFO_INIT sets it) */
  moekit_backend backend; /**< [out] the backend described */
  int32_t available;    /**< 1 if a context can be created on it */
  int32_t device_count; /**< devices visible (1 for CPU) */
  char name[32];        /**< "cpu", "cuda", "hip" */
  char detail[256];     /**< available: device / library description; unavailable: the reason */
} moekit_backend_info;
/** Initializer of ::moekit_backend_info that sets struct_size. */
#define MOEKIT_BACKEND_INFO_INIT {sizeof(moekit_backend_info), MOEKIT_BACKEND_CPU, 0, 0, {0}, {0}}

/**
 * Describes one backend: whether it is available and, if not, why ("module libmoekit_cuda.so not found
 * (searched: ...)", "no CUDA driver", "no CUDA device"). Probing a device backend loads its module. Thread-safe.
 * \param[in]     backend  MOEKIT_BACKEND_CPU, _CUDA or _HIP (not AUTO)
 * \param[in,out] info     struct_size in; everything out. Unavailability is reported here, not as a status.
 * \return MOEKIT_OK for every known backend, MOEKIT_ERR_INVALID_ARGUMENT for AUTO, an unknown backend, a null
 *         or too small `info`
 */
MOEKIT_API moekit_status moekit_backend_query(moekit_backend backend, moekit_backend_info* info);

/**
 * Creates a context. AUTO tries CUDA, then HIP, and falls back to CPU, so it succeeds on any machine.
 * \param[in]  backend    the backend, or MOEKIT_BACKEND_AUTO
 * \param[in]  device_id  device ordinal (0 for CPU; must be < the backend's device_count)
 * \param[out] out        receives the new context (caller owns it: moekit_context_destroy())
 * \return MOEKIT_OK; MOEKIT_ERR_BACKEND_UNAVAILABLE with the reason when an explicitly requested backend cannot
 *         be used; MOEKIT_ERR_INVALID_ARGUMENT for a bad backend, device_id or null `out`
 */
MOEKIT_API moekit_status moekit_context_create(moekit_backend backend, int32_t device_id, moekit_context* out);
/**
 * Releases the caller's reference to a context. Objects created on it stay valid (they hold their own).
 * \param[in] ctx  the context, or NULL (no-op)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT if `ctx` is detected not to be a live context (a handle
 *         destroyed before is caught in most cases; do not rely on it)
 */
MOEKIT_API moekit_status moekit_context_destroy(moekit_context ctx);
/**
 * The backend and device a context runs on (what AUTO chose).
 * \param[in]  ctx        the context
 * \param[out] backend    receives the backend (never AUTO); may be NULL
 * \param[out] device_id  receives the device ordinal; may be NULL
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT for a bad `ctx`
 */
MOEKIT_API moekit_status moekit_context_get_backend(moekit_context ctx, moekit_backend* backend, int32_t* device_id);
/**
 * Sets the CPU worker threads used by calls on this context and on objects created on it (default: hardware
 * concurrency). Not thread-safe with concurrent calls that use the context.
 * \param[in] ctx  the context
 * \param[in] n    threads, >= 1
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT for a bad `ctx` or n < 1
 */
MOEKIT_API moekit_status moekit_context_set_num_threads(moekit_context ctx, int32_t n);
/**
 * CPU worker threads used by this context.
 * \param[in]  ctx  the context
 * \param[out] n    receives the thread count
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT for a bad `ctx` or a null `n`
 */
MOEKIT_API moekit_status moekit_context_get_num_threads(moekit_context ctx, int32_t* n);

/**
 * The platform contract: every block size, alignment and padding the backend uses, computed in one place per
 * backend. Buffers the caller allocates for routing plans and padded weights follow these values
 * (see the padding and alignment guide, padding.md).
 */
typedef struct moekit_platform_contract {
  size_t struct_size;         /**< [in] sizeof(moekit_platform_contract) (MOEKIT_PLATFORM_CONTRACT_INIT sets it) */
  int32_t block_size_m;       /**< rows per block of the padded expert-sorted order (moe_align_block_size) */
  int32_t hidden_align;       /**< hidden_pad = round_up(hidden, hidden_align) */
  int32_t intermediate_align; /**< intermediate_pad = round_up(intermediate, intermediate_align) */
  int32_t buffer_align_bytes; /**< required alignment of workspace pointers */
  int32_t mx_block;           /**< values per MXFP4 scale (32) */
  int32_t fp8_block;          /**< FP8 group / weight block edge (128) */
} moekit_platform_contract;
/** Initializer of ::moekit_platform_contract that sets struct_size. */
#define MOEKIT_PLATFORM_CONTRACT_INIT {sizeof(moekit_platform_contract), 0, 0, 0, 0, 0, 0}

/**
 * The context's platform contract.
 * \param[in]     ctx  the context
 * \param[in,out] out  struct_size in (at least this version's size); the contract out
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT for a bad `ctx`, a null or too small `out`
 */
MOEKIT_API moekit_status moekit_context_platform_contract(moekit_context ctx, moekit_platform_contract* out);
/**
 * Padded sizes the expert runner uses for hidden and intermediate (from the platform contract).
 * \param[in]  ctx               the context
 * \param[in]  hidden            H, 1..2^40
 * \param[in]  intermediate      I, 1..2^40
 * \param[out] hidden_pad        receives round_up(H, hidden_align); may be NULL
 * \param[out] intermediate_pad  receives round_up(I, intermediate_align); may be NULL
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT for a bad `ctx` or sizes out of range
 */
MOEKIT_API moekit_status moekit_context_padded_sizes(moekit_context ctx, int64_t hidden, int64_t intermediate,
                                                     int64_t* hidden_pad, int64_t* intermediate_pad);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Router */
/** @{ */
/** How router logits become scores. */
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
  size_t struct_size;           /**< sizeof(moekit_router_desc) (MOEKIT_ROUTER_DESC_INIT sets it) */
  int32_t num_experts;          /**< 1 <= E <= 65536 */
  int32_t top_k;                /**< 1 <= k <= E */
  moekit_scoring scoring;       /**< softmax or sigmoid scoring */
  int32_t renormalize;          /**< 0 or 1 */
  int32_t num_expert_groups;    /**< 0 or 1 = no grouping; else divides E */
  int32_t topk_groups;          /**< groups kept when grouping (1..num_expert_groups; k <= topk_groups * E/groups) */
  float routed_scaling_factor;  /**< multiplies the final weights (1.0 for none) */
  const float* correction_bias; /**< optional [E] host array, copied at create */
  const int32_t* expert_map;    /**< optional [E] host array: global id -> local id, -1 = not local; copied */
  int32_t block_size;           /**< rows per block of the sorted order (<= 2^20); 0 = the platform contract's */
} moekit_router_desc;
/** Initializer of ::moekit_router_desc: struct_size set, softmax, no grouping, scaling 1, platform block size. */
#define MOEKIT_ROUTER_DESC_INIT {sizeof(moekit_router_desc), 0, 0, MOEKIT_SCORING_SOFTMAX, 0, 0, 0, 1.0f, NULL, NULL, 0}

/** A router: top-k selection and routing-plan construction for one configuration. Opaque. */
typedef struct moekit_router_s* moekit_router;

/**
 * Routing plan buffers, written by moekit_router_run. topk_weights/topk_ids are required; the rest are optional
 * (data == NULL skips them; the sorted order needs sorted_token_ids, block_expert_ids and num_tokens_post_padded
 * together). Sizes for T tokens: see moekit_router_plan_sizes. All buffers are caller memory on the context's
 * device; moekit writes them and keeps no reference.
 */
typedef struct moekit_routing {
  size_t struct_size;                   /**< sizeof(moekit_routing) */
  moekit_tensor topk_weights;           /**< [T,k] f32: weight of each chosen expert */
  moekit_tensor topk_ids;               /**< [T,k] i32: global ids of the chosen experts, best first */
  moekit_tensor bitmatrix;              /**< [T, ceil(E/32)] u32: bit e%32 of word e/32 in row t is set iff token t
                                             chose expert e */
  moekit_tensor expert_counts;          /**< [E] i32: assignments per expert */
  moekit_tensor sorted_token_ids;       /**< [max_sorted] i32: flat indices t*k+j grouped by expert id ascending
                                             (increasing flat index within an expert), each expert's run padded to a
                                             multiple of block_size with the value T*k (moe_align_block_size
                                             semantics); entries past the padded total hold T*k too */
  moekit_tensor block_expert_ids;       /**< [max_blocks] i32: expert id (global) of each block; -1 after the padded
                                             total or for experts the expert_map marks non-local */
  moekit_tensor num_tokens_post_padded; /**< [1] i32: the padded total. Ids outside [0, E) (possible only in
                                             caller-supplied plans) never set a bit, count, or touch memory. */
} moekit_routing;

/**
 * Creates a router. The descriptor's arrays are copied; the descriptor may be freed afterwards.
 * \param[in]  ctx   the context it runs on
 * \param[in]  desc  the configuration (struct_size set)
 * \param[out] out   receives the router (caller owns it: moekit_router_destroy())
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT naming the bad field; MOEKIT_ERR_UNSUPPORTED if desc is
 *         newer than this library and uses fields it does not know
 */
MOEKIT_API moekit_status moekit_router_create(moekit_context ctx, const moekit_router_desc* desc, moekit_router* out);
/**
 * Destroys a router. On a device backend, work already queued that uses it must be complete (synchronise its
 * stream first).
 * \param[in] router  the router, or NULL (no-op)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT if `router` is not a live router
 */
MOEKIT_API moekit_status moekit_router_destroy(moekit_router router);
/**
 * Block size the router pads with, and the sizes of the sorted-order buffers for num_tokens tokens:
 * max_sorted = round_up(T*k + E*(block_size-1), block_size), max_blocks = max_sorted / block_size. Host only.
 * \param[in]  router      the router
 * \param[in]  num_tokens  T >= 0
 * \param[out] block_size  receives the block size; may be NULL
 * \param[out] max_sorted  receives the sorted_token_ids length; may be NULL
 * \param[out] max_blocks  receives the block_expert_ids length; may be NULL
 * \return MOEKIT_OK; MOEKIT_ERR_INVALID_ARGUMENT (outputs untouched) if num_tokens < 0 or max_sorted exceeds
 *         INT32_MAX (the plan's indices are int32)
 */
MOEKIT_API moekit_status moekit_router_plan_sizes(moekit_router router, int64_t num_tokens, int32_t* block_size,
                                                  int64_t* max_sorted, int64_t* max_blocks);
/**
 * Routes logits [T,E] (f32, bf16 or f16) into the plan buffers: top-k ids and weights, and every optional
 * metadata buffer that is present. On a device backend it is stream-ordered with no host round trip (it can be
 * captured in a CUDA graph).
 * \param[in]     router  the router
 * \param[in]     logits  [T,E] on the context's device
 * \param[in,out] plan    struct_size and tensors in; the tensors' memory is written
 * \param[in]     stream  device stream (ignored on CPU)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT naming the tensor (dtype, shape, device, size)
 */
MOEKIT_API moekit_status moekit_router_run(moekit_router router, const moekit_tensor* logits, moekit_routing* plan,
                                           void* stream);
/**
 * Builds the metadata part of a plan (bitmatrix, counts, sorted order) from caller-supplied topk_ids [T,k] i32
 * (plan->topk_ids). Ids outside [0,E) are ignored (never set a bit, never touch memory). topk_weights is optional
 * here and never written.
 * \param[in]     router  the router (its E, k, block size and expert_map apply)
 * \param[in,out] plan    topk_ids in; the present metadata buffers out
 * \param[in]     stream  device stream (ignored on CPU)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT naming the tensor
 */
MOEKIT_API moekit_status moekit_router_build_plan(moekit_router router, moekit_routing* plan, void* stream);

/**
 * Router GEMM: logits[T,E] (f32) = hidden[T,H] @ w_gate[E,H]^T (+ bias[E]), f32 accumulation. hidden and w_gate
 * share a dtype (f32, bf16 or f16); bias (f32, optional: NULL) too.
 * \param[in]  ctx     the context
 * \param[in]  hidden  [T,H]
 * \param[in]  w_gate  [E,H], the same dtype as hidden
 * \param[in]  bias    [E] f32, or NULL
 * \param[out] logits  [T,E] f32 (its memory is written)
 * \param[in]  stream  device stream (ignored on CPU)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT naming the tensor
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

/** Quantization formats and the granularity of their scales. */
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
  size_t struct_size;         /**< sizeof(moekit_quantizer_desc) (MOEKIT_QUANTIZER_DESC_INIT sets it) */
  moekit_quant_scheme scheme; /**< format and scale granularity */
  int32_t group_size; /**< FP8_PER_GROUP group / FP8_BLOCK edge; 0 = 128 */
} moekit_quantizer_desc;
/** Initializer of ::moekit_quantizer_desc: struct_size set, FP8 per token, group size 128. */
#define MOEKIT_QUANTIZER_DESC_INIT {sizeof(moekit_quantizer_desc), MOEKIT_QUANT_FP8_PER_TOKEN, 0}

/** A quantizer for one scheme. Opaque. */
typedef struct moekit_quantizer_s* moekit_quantizer;

/**
 * Creates a quantizer.
 * \param[in]  ctx   the context it runs on
 * \param[in]  desc  the configuration (struct_size set)
 * \param[out] out   receives the quantizer (caller owns it: moekit_quantizer_destroy())
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT naming the bad field
 */
MOEKIT_API moekit_status moekit_quantizer_create(moekit_context ctx, const moekit_quantizer_desc* desc,
                                                 moekit_quantizer* out);
/**
 * Destroys a quantizer (queued device work that uses it must be complete).
 * \param[in] q  the quantizer, or NULL (no-op)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT if `q` is not a live quantizer
 */
MOEKIT_API moekit_status moekit_quantizer_destroy(moekit_quantizer q);
/**
 * Shapes of the value and scale tensors that quantizing a [rows, cols] input produces (2-D each). Host only.
 * \param[in]  q             the quantizer
 * \param[in]  rows          M >= 0
 * \param[in]  cols          K >= 0 (a multiple of 32 for MXFP4)
 * \param[out] values_shape  receives the values' [2] shape
 * \param[out] scales_shape  receives the scales' [2] shape
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT (outputs untouched)
 */
MOEKIT_API moekit_status moekit_quantizer_output_shapes(moekit_quantizer q, int64_t rows, int64_t cols,
                                                        int64_t values_shape[2], int64_t scales_shape[2]);
/**
 * input [M,K] (f32/bf16/f16) -> values (f8e4m3 [M,K] or fp4x2 [M,K/2]) and scales (f32, or e8m0 for MXFP4).
 * \param[in]  q       the quantizer
 * \param[in]  input   [M,K]
 * \param[out] values  shaped as moekit_quantizer_output_shapes says (its memory is written)
 * \param[out] scales  shaped as moekit_quantizer_output_shapes says (its memory is written)
 * \param[in]  stream  device stream (ignored on CPU)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT naming the tensor
 */
MOEKIT_API moekit_status moekit_quantize(moekit_quantizer q, const moekit_tensor* input, moekit_tensor* values,
                                         moekit_tensor* scales, void* stream);
/**
 * values + scales -> output [M,K] (f32/bf16/f16), the exact inverse mapping (value * scale).
 * \param[in]  q       the quantizer
 * \param[in]  values  as produced by moekit_quantize
 * \param[in]  scales  as produced by moekit_quantize
 * \param[out] output  [M,K] (its memory is written)
 * \param[in]  stream  device stream (ignored on CPU)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT naming the tensor
 */
MOEKIT_API moekit_status moekit_dequantize(moekit_quantizer q, const moekit_tensor* values,
                                           const moekit_tensor* scales, moekit_tensor* output, void* stream);
/** @} */

/* ---------------------------------------------------------------------------------------------------------- */
/** @name Expert runner */
/** @{ */
/** Gated activation between the two expert GEMMs (gate = rows [0,I) of w13, up = rows [I,2I)). */
typedef enum moekit_activation {
  MOEKIT_ACTIVATION_SILU_MUL = 0,  /**< silu(gate) * up */
  MOEKIT_ACTIVATION_GELU_MUL = 1,  /**< gelu_erf(gate) * up */
  MOEKIT_ACTIVATION_SWIGLU_OAI = 2 /**< gpt-oss: g = min(gate, limit), u = clamp(up, -limit, limit),
                                        g * sigmoid(alpha * g) * (u + 1) */
} moekit_activation;

/** Storage format of the expert weights. */
typedef enum moekit_weight_format {
  MOEKIT_WEIGHTS_BF16 = 0,      /**< bf16 values */
  MOEKIT_WEIGHTS_F16 = 1,       /**< f16 values */
  MOEKIT_WEIGHTS_F32 = 2,       /**< f32 values */
  MOEKIT_WEIGHTS_FP8_BLOCK = 3, /**< f8e4m3 values + f32 scales per 128x128 block of each expert matrix */
  MOEKIT_WEIGHTS_MXFP4 = 4      /**< fp4x2 values + e8m0 scales per 32 values along the reduction dim */
} moekit_weight_format;

/** Quantization of the GEMM inputs (activations). */
typedef enum moekit_act_quant {
  MOEKIT_ACT_QUANT_NONE = 0,          /**< GEMM inputs stay in the working precision */
  MOEKIT_ACT_QUANT_FP8_PER_TOKEN = 1, /**< GEMM inputs quantized to FP8 with one scale per row */
  MOEKIT_ACT_QUANT_FP8_PER_GROUP = 2  /**< GEMM inputs quantized to FP8 with one scale per 1x128 group */
} moekit_act_quant;

/** Expert runner configuration. */
typedef struct moekit_experts_desc {
  size_t struct_size;         /**< sizeof(moekit_experts_desc) (MOEKIT_EXPERTS_DESC_INIT sets it) */
  int32_t num_experts;        /**< global E */
  int32_t num_local_experts;  /**< experts held here; == E without expert_map */
  int64_t hidden_size;        /**< H */
  int64_t intermediate_size;  /**< I */
  moekit_activation activation; /**< the gated activation */
  float swiglu_alpha;         /**< SWIGLU_OAI only (gpt-oss: 1.702) */
  float swiglu_limit;         /**< SWIGLU_OAI only (gpt-oss: 7.0) */
  moekit_weight_format weight_format; /**< how moekit_experts_set_weights receives the weights */
  moekit_act_quant act_quant; /**< activation quantization before each GEMM */
  int32_t has_w13_bias;       /**< 1: w13_bias [L,2I] is given and added after GEMM1 */
  int32_t has_w2_bias;        /**< 1: w2_bias [L,H] is given and added after GEMM2 */
  int32_t apply_router_weight_on_input; /**< scale the input rows by the weight instead of the output (k == 1) */
  const int32_t* expert_map;  /**< optional [E] host array: global -> local id, -1 = not local; copied */
} moekit_experts_desc;
/** Initializer of ::moekit_experts_desc: struct_size set, SiLU, bf16 weights, gpt-oss SwiGLU constants. */
#define MOEKIT_EXPERTS_DESC_INIT \
  {sizeof(moekit_experts_desc), 0, 0, 0, 0, MOEKIT_ACTIVATION_SILU_MUL, 1.702f, 7.0f, MOEKIT_WEIGHTS_BF16, \
   MOEKIT_ACT_QUANT_NONE, 0, 0, 0, NULL}

/**
 * Expert weights, per local expert (L = num_local_experts). The runner copies them into its own layout and
 * padding; the caller may free them after moekit_experts_set_weights returns.
 */
typedef struct moekit_expert_weights {
  size_t struct_size;      /**< sizeof(moekit_expert_weights) */
  moekit_tensor w13;       /**< [L, 2I, H]: rows [0, I) are the gate projection, rows [I, 2I) the up projection
                                (MXFP4: [L, 2I, H/2] fp4x2) */
  moekit_tensor w2;        /**< [L, H, I] (MXFP4: [L, H, I/2]) */
  moekit_tensor w13_scale; /**< FP8_BLOCK f32 [L, ceil(2I/128), ceil(H/128)]; MXFP4 e8m0 [L, 2I, H/32]; unused
                                (data NULL) otherwise */
  moekit_tensor w2_scale;  /**< FP8_BLOCK f32 [L, ceil(H/128), ceil(I/128)]; MXFP4 e8m0 [L, H, I/32]; unused
                                (data NULL) otherwise */
  moekit_tensor w13_bias;  /**< [L, 2I] f32 when has_w13_bias, else data NULL */
  moekit_tensor w2_bias;   /**< [L, H] f32 when has_w2_bias, else data NULL */
} moekit_expert_weights;

/**
 * What a run did (filled by moekit_experts_run / moekit_moe_forward when not NULL). The counts are -1 (unknown)
 * where a backend could only count with a host synchronisation per run: the CUDA backend leaves them -1 so a
 * run stays asynchronous and graph-capturable; kernel and detail are always filled.
 */
typedef struct moekit_run_report {
  size_t struct_size;           /**< [in] sizeof(moekit_run_report) (MOEKIT_RUN_REPORT_INIT sets it) */
  int64_t assignments;          /**< (token, expert) pairs with a valid expert id */
  int64_t non_local_assignments; /**< pairs routed to experts not held here (contributed nothing) */
  int64_t invalid_assignments;  /**< pairs with an id outside [0, E) (dropped tokens) */
  int32_t experts_touched;      /**< distinct local experts that received at least one token */
  char kernel[64];              /**< the kernel path that ran ("cpu-openblas-sgemm") */
  char detail[192];             /**< its tile configuration / parameters and why they were chosen */
} moekit_run_report;
/** Initializer of ::moekit_run_report that sets struct_size. */
#define MOEKIT_RUN_REPORT_INIT {sizeof(moekit_run_report), 0, 0, 0, 0, {0}, {0}}

/** An expert runner: one MoE layer's experts, their weights in the backend's layout, and how to run them. Opaque. */
typedef struct moekit_experts_s* moekit_experts;

/**
 * Creates an expert runner (without weights: call moekit_experts_set_weights before running).
 * \param[in]  ctx   the context it runs on
 * \param[in]  desc  the configuration (struct_size set); expert_map is copied
 * \param[out] out   receives the runner (caller owns it: moekit_experts_destroy())
 * \return MOEKIT_OK; MOEKIT_ERR_INVALID_ARGUMENT naming the bad field; MOEKIT_ERR_UNSUPPORTED for a valid
 *         configuration the backend cannot run
 */
MOEKIT_API moekit_status moekit_experts_create(moekit_context ctx, const moekit_experts_desc* desc,
                                               moekit_experts* out);
/**
 * Destroys an expert runner and its copy of the weights (queued device work that uses it must be complete).
 * \param[in] experts  the runner, or NULL (no-op)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT if `experts` is not a live runner
 */
MOEKIT_API moekit_status moekit_experts_destroy(moekit_experts experts);
/**
 * Copies the weights into the runner's own layout and padding (replacing earlier weights). Unlike the other
 * device calls it returns only when the copy is complete (a device backend synchronises `stream`), so the caller's
 * weight buffers may be freed or reused at once. A one-time setup call: not meant for a captured graph.
 * \param[in] experts  the runner
 * \param[in] weights  tensors on the context's device, shaped as ::moekit_expert_weights says
 * \param[in] stream   device stream the copy is ordered on (ignored on CPU)
 * \return MOEKIT_OK; MOEKIT_ERR_INVALID_ARGUMENT naming the tensor; MOEKIT_ERR_OUT_OF_MEMORY
 */
MOEKIT_API moekit_status moekit_experts_set_weights(moekit_experts experts, const moekit_expert_weights* weights,
                                                    void* stream);
/**
 * Workspace bytes moekit_experts_run needs for num_tokens tokens with top_k experts each. Host only.
 * The size is not promised to grow with num_tokens (a device backend picks its kernels, and their scratch, by
 * the tokens per expert): a caller that allocates once for a range of token counts takes the largest size over
 * the counts it will run, not the size at the largest count. A workspace that is too small is refused
 * (MOEKIT_ERR_INVALID_ARGUMENT), never overrun.
 * \param[in]  experts     the runner
 * \param[in]  num_tokens  T >= 0
 * \param[in]  top_k       k >= 1
 * \param[out] bytes       receives the size (may be 0)
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT
 */
MOEKIT_API moekit_status moekit_experts_workspace_size(moekit_experts experts, int64_t num_tokens, int32_t top_k,
                                                       size_t* bytes);
/**
 * out[T,H] = sum_j topk_weights[t,j] * expert_{topk_ids[t,j]}(hidden[t]) over local experts. hidden and out are
 * f32, bf16 or f16 (the same dtype). plan needs topk_weights and topk_ids; the rest of it is optional.
 * Non-local experts (expert_map -1) and invalid ids contribute nothing and are counted in the report.
 * \param[in]  experts          the runner (weights set)
 * \param[in]  hidden           [T,H]
 * \param[in]  plan             a routing plan for the same T (topk_weights and topk_ids required)
 * \param[out] out              [T,H] (its memory is written)
 * \param[in]  workspace        at least moekit_experts_workspace_size bytes of the context's device memory,
 *                              aligned to the contract's buffer_align_bytes (NULL if 0); scratch, owned by the
 *                              caller, in use until the call (on a device: the stream) is done
 * \param[in]  workspace_bytes  size of `workspace`
 * \param[in,out] report        struct_size in, statistics out; may be NULL
 * \param[in]  stream           device stream (ignored on CPU)
 * \return MOEKIT_OK; MOEKIT_ERR_INVALID_ARGUMENT naming the argument (also: weights not set, workspace too
 *         small or misaligned); MOEKIT_ERR_UNSUPPORTED if the backend cannot run this configuration
 */
MOEKIT_API moekit_status moekit_experts_run(moekit_experts experts, const moekit_tensor* hidden,
                                            const moekit_routing* plan, moekit_tensor* out, void* workspace,
                                            size_t workspace_bytes, moekit_run_report* report, void* stream);

/**
 * Workspace bytes of moekit_moe_forward (routing plan + experts) for num_tokens tokens. Host only. Like
 * moekit_experts_workspace_size, not promised to grow with num_tokens.
 * \param[in]  router      the router
 * \param[in]  experts     the expert runner (same context, same num_experts)
 * \param[in]  num_tokens  T >= 0
 * \param[out] bytes       receives the size
 * \return MOEKIT_OK, or MOEKIT_ERR_INVALID_ARGUMENT
 */
MOEKIT_API moekit_status moekit_moe_forward_workspace_size(moekit_router router, moekit_experts experts,
                                                           int64_t num_tokens, size_t* bytes);
/**
 * One MoE layer: route logits [T,E], then run the experts on hidden [T,H] into out [T,H]. Bit-identical to
 * moekit_router_run followed by moekit_experts_run; the routing plan lives in the workspace. Everything is
 * checked before anything is written, so a failing call leaves `out` untouched.
 * \param[in]  router           the router
 * \param[in]  experts          the expert runner (same context, same num_experts, weights set)
 * \param[in]  hidden           [T,H]
 * \param[in]  logits           [T,E]
 * \param[out] out              [T,H] (its memory is written)
 * \param[in]  workspace        moekit_moe_forward_workspace_size bytes, aligned to buffer_align_bytes
 * \param[in]  workspace_bytes  size of `workspace`
 * \param[in,out] report        struct_size in, statistics out; may be NULL
 * \param[in]  stream           device stream (ignored on CPU)
 * \return MOEKIT_OK; MOEKIT_ERR_INVALID_ARGUMENT naming the argument; MOEKIT_ERR_UNSUPPORTED
 */
MOEKIT_API moekit_status moekit_moe_forward(moekit_router router, moekit_experts experts, const moekit_tensor* hidden,
                                            const moekit_tensor* logits, moekit_tensor* out, void* workspace,
                                            size_t workspace_bytes, moekit_run_report* report, void* stream);
/** @} */

/** \cond MOEKIT_INTERNAL */
#ifdef __cplusplus
} /* extern "C" */
#endif
/** \endcond */

#endif /* MOEKIT_MOEKIT_H */
