/*
 * The one SWIG interface of moekit's language bindings (Python, Go, Java).
 *
 * What it exposes is a thin, language-neutral layer over the C API in <moekit/moekit.h>:
 *  - the enums, constants and size-tagged structs of the header (descriptors get constructors that apply the
 *    header's *_INIT macros, so struct_size is always right);
 *  - the four handles as owning proxy classes: factories are %newobject, the destructor calls
 *    moekit_<object>_destroy exactly once (SWIG disowns the proxy when it is deleted explicitly);
 *  - "mkb_" helpers that turn out-parameters into values and take every tensor as two arguments: its data
 *    address (mkb_data) and a descriptor (moekit_tensor with data ignored). The address is a direct argument of
 *    the call that uses it and is never stored, which keeps Go inside cgo's pointer rules and lets every
 *    language pass memory it owns without a copy.
 * Each language maps mkb_data and adds its own loader code in bindings/<language>/<language>.i; the idiomatic
 * classes (context managers, Close(), AutoCloseable, exceptions) are written in each language on top of this.
 *
 * Status convention: helpers return moekit_status; factories return NULL on failure and leave the status in
 * mkb_last_status(). Either way the message is moekit_last_error() on the same thread.
 */
%module moekit

%{
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <moekit/moekit.h>
%}

/* ---- data addresses: mapped per language (int / unsafe.Pointer / long) ---------------------------------- */
%{
typedef void* mkb_data;
%}
typedef void* mkb_data;

#if defined(SWIGPYTHON)
%include "python/moekit_python.i"
#elif defined(SWIGGO)
%include "go/moekit_go.i"
#elif defined(SWIGJAVA)
%include "java/moekit_java.i"
#endif

%include <stdint.i>

/* ---- the header: enums, constants, structs. Functions with out-handles or tensors are replaced below. ---- */
#define MOEKIT_API
%ignore moekit_version;
%ignore moekit_tensor_init;
%ignore moekit_context_create;
%ignore moekit_context_destroy;
%ignore moekit_context_get_backend;
%ignore moekit_context_get_num_threads;
%ignore moekit_context_padded_sizes;
%ignore moekit_router_create;
%ignore moekit_router_destroy;
%ignore moekit_router_plan_sizes;
%ignore moekit_router_run;
%ignore moekit_router_build_plan;
%ignore moekit_router_gemm;
%ignore moekit_quantizer_create;
%ignore moekit_quantizer_destroy;
%ignore moekit_quantizer_output_shapes;
%ignore moekit_quantize;
%ignore moekit_dequantize;
%ignore moekit_experts_create;
%ignore moekit_experts_destroy;
%ignore moekit_experts_set_weights;
%ignore moekit_experts_workspace_size;
%ignore moekit_experts_run;
%ignore moekit_moe_forward_workspace_size;
%ignore moekit_moe_forward;
/* Structs that hold caller pointers are assembled inside the helpers, never by a language. */
%ignore moekit_routing;
%ignore moekit_expert_weights;
%ignore moekit_tensor::data;
%ignore moekit_tensor::shape;
%ignore moekit_tensor::strides;
%ignore moekit_router_desc::correction_bias;
%ignore moekit_router_desc::expert_map;
%ignore moekit_experts_desc::expert_map;
%immutable moekit_backend_info::name;
%immutable moekit_backend_info::detail;
%immutable moekit_run_report::kernel;
/* The *_INIT macros are brace initialisers, not values a language can hold. */
%ignore MOEKIT_BACKEND_INFO_INIT;
%ignore MOEKIT_PLATFORM_CONTRACT_INIT;
%ignore MOEKIT_ROUTER_DESC_INIT;
%ignore MOEKIT_QUANTIZER_DESC_INIT;
%ignore MOEKIT_EXPERTS_DESC_INIT;
%ignore MOEKIT_RUN_REPORT_INIT;

/* Handles: SWIG sees empty structs so that it makes owning proxy classes for them. */
%rename(ContextHandle) moekit_context_s;
%rename(RouterHandle) moekit_router_s;
%rename(QuantizerHandle) moekit_quantizer_s;
%rename(ExpertsHandle) moekit_experts_s;
%nodefaultctor moekit_context_s;
%nodefaultctor moekit_router_s;
%nodefaultctor moekit_quantizer_s;
%nodefaultctor moekit_experts_s;
struct moekit_context_s {};
struct moekit_router_s {};
struct moekit_quantizer_s {};
struct moekit_experts_s {};

%rename(TensorDesc) moekit_tensor;
%rename(BackendInfo) moekit_backend_info;
%rename(PlatformContract) moekit_platform_contract;
%rename(RouterDesc) moekit_router_desc;
%rename(QuantizerDesc) moekit_quantizer_desc;
%rename(ExpertsDesc) moekit_experts_desc;
%rename(RunReport) moekit_run_report;

%include <moekit/moekit.h>

/* Destroying a handle: exactly once, through the proxy (explicitly, or by the garbage collector where the
 * language has one). Destroying a live handle cannot fail, so the status is not needed here. */
%extend moekit_context_s { ~moekit_context_s() { (void)moekit_context_destroy($self); } }
%extend moekit_router_s { ~moekit_router_s() { (void)moekit_router_destroy($self); } }
%extend moekit_quantizer_s { ~moekit_quantizer_s() { (void)moekit_quantizer_destroy($self); } }
%extend moekit_experts_s { ~moekit_experts_s() { (void)moekit_experts_destroy($self); } }

/* Structs built by a language start from the header's *_INIT values. */
%define MKB_INIT_CTOR(TYPE, INIT)
%extend TYPE {
  TYPE() {
    TYPE* p = (TYPE*)malloc(sizeof(TYPE));
    if (p) { TYPE init = INIT; *p = init; }
    return p;
  }
  ~TYPE() { free($self); }
}
%enddef
MKB_INIT_CTOR(moekit_backend_info, MOEKIT_BACKEND_INFO_INIT)
MKB_INIT_CTOR(moekit_platform_contract, MOEKIT_PLATFORM_CONTRACT_INIT)
MKB_INIT_CTOR(moekit_router_desc, MOEKIT_ROUTER_DESC_INIT)
MKB_INIT_CTOR(moekit_quantizer_desc, MOEKIT_QUANTIZER_DESC_INIT)
MKB_INIT_CTOR(moekit_experts_desc, MOEKIT_EXPERTS_DESC_INIT)
MKB_INIT_CTOR(moekit_run_report, MOEKIT_RUN_REPORT_INIT)

/* A tensor descriptor: everything of a moekit_tensor except the data address. */
%extend moekit_tensor {
  moekit_tensor(moekit_dtype dtype, int32_t rank, moekit_device_type device_type, int32_t device_id) {
    moekit_tensor* t = (moekit_tensor*)calloc(1, sizeof(moekit_tensor));
    if (t) {
      t->dtype = dtype;
      t->rank = rank;
      t->device_type = device_type;
      t->device_id = device_id;
    }
    return t;
  }
  ~moekit_tensor() { free($self); }
  /* Axes outside [0, MOEKIT_MAX_RANK) are ignored here; the library rejects a rank above MOEKIT_MAX_RANK. */
  void set_dim(int32_t axis, int64_t size, int64_t stride) {
    if (axis < 0 || axis >= MOEKIT_MAX_RANK) return;
    $self->shape[axis] = size;
    $self->strides[axis] = stride;
  }
  int64_t size(int32_t axis) { return (axis >= 0 && axis < MOEKIT_MAX_RANK) ? $self->shape[axis] : 0; }
  int64_t stride(int32_t axis) { return (axis >= 0 && axis < MOEKIT_MAX_RANK) ? $self->strides[axis] : 0; }
}

/* Results of the helpers that return several integers. */
%rename(Values) mkb_values;
%inline %{
typedef struct mkb_values {
  int64_t a, b, c, d;
} mkb_values;
%}

%newobject mkb_context_create;
%newobject mkb_router_create;
%newobject mkb_quantizer_create;
%newobject mkb_experts_create;

%{
/* The routing plan of the helpers that take one: 7 (address, descriptor) pairs in moekit_routing's order.
 * Defined twice: once for the compiler (in the wrapper), once for SWIG's parser. */
#define MKB_PLAN_PARAMS                                                                                     \
  mkb_data w_data, const moekit_tensor *w, mkb_data ids_data, const moekit_tensor *ids, mkb_data bm_data,   \
      const moekit_tensor *bm, mkb_data cnt_data, const moekit_tensor *cnt, mkb_data sorted_data,          \
      const moekit_tensor *sorted, mkb_data blk_data, const moekit_tensor *blk, mkb_data npp_data,         \
      const moekit_tensor *npp
%}
#define MKB_PLAN_PARAMS                                                                                     \
  mkb_data w_data, const moekit_tensor *w, mkb_data ids_data, const moekit_tensor *ids, mkb_data bm_data,   \
      const moekit_tensor *bm, mkb_data cnt_data, const moekit_tensor *cnt, mkb_data sorted_data,          \
      const moekit_tensor *sorted, mkb_data blk_data, const moekit_tensor *blk, mkb_data npp_data,         \
      const moekit_tensor *npp
%{
/* Status of the last factory call on this thread (factories return the handle, NULL on failure). */
static _Thread_local moekit_status mkb_factory_status = MOEKIT_OK;

/* A descriptor plus its address as the moekit_tensor the C API takes. No descriptor: absent (data NULL). */
static moekit_tensor mkb_bind(mkb_data data, const moekit_tensor* desc) {
  moekit_tensor t;
  memset(&t, 0, sizeof t);
  if (desc != NULL) {
    t = *desc;
    t.data = data;
  }
  return t;
}

static moekit_routing mkb_plan(MKB_PLAN_PARAMS) {
  moekit_routing p;
  memset(&p, 0, sizeof p);
  p.struct_size = sizeof p;
  p.topk_weights = mkb_bind(w_data, w);
  p.topk_ids = mkb_bind(ids_data, ids);
  p.bitmatrix = mkb_bind(bm_data, bm);
  p.expert_counts = mkb_bind(cnt_data, cnt);
  p.sorted_token_ids = mkb_bind(sorted_data, sorted);
  p.block_expert_ids = mkb_bind(blk_data, blk);
  p.num_tokens_post_padded = mkb_bind(npp_data, npp);
  return p;
}
#define MKB_PLAN_ARGS w_data, w, ids_data, ids, bm_data, bm, cnt_data, cnt, sorted_data, sorted, blk_data, blk, \
                      npp_data, npp
%}

%inline %{
/* ---- status ------------------------------------------------------------------------------------------- */
moekit_status mkb_last_status(void) { return mkb_factory_status; }

/* ---- factories (%newobject: the caller's proxy owns the handle) ------------------------------------------ */
struct moekit_context_s* mkb_context_create(moekit_backend backend, int32_t device_id) {
  moekit_context c = NULL;
  mkb_factory_status = moekit_context_create(backend, device_id, &c);
  return c;
}

/* correction_bias: [E] f32 host array or NULL; expert_map: [E] i32 host array or NULL (copied at create). */
struct moekit_router_s* mkb_router_create(struct moekit_context_s* ctx, const moekit_router_desc* desc,
                                          mkb_data correction_bias, mkb_data expert_map) {
  moekit_router r = NULL;
  if (desc == NULL) {
    mkb_factory_status = moekit_router_create(ctx, NULL, &r);
    return r;
  }
  moekit_router_desc d = *desc;
  d.correction_bias = (const float*)correction_bias;
  d.expert_map = (const int32_t*)expert_map;
  mkb_factory_status = moekit_router_create(ctx, &d, &r);
  return r;
}

struct moekit_quantizer_s* mkb_quantizer_create(struct moekit_context_s* ctx, const moekit_quantizer_desc* desc) {
  moekit_quantizer q = NULL;
  mkb_factory_status = moekit_quantizer_create(ctx, desc, &q);
  return q;
}

/* expert_map: [E] i32 host array or NULL (copied at create). */
struct moekit_experts_s* mkb_experts_create(struct moekit_context_s* ctx, const moekit_experts_desc* desc,
                                            mkb_data expert_map) {
  moekit_experts e = NULL;
  if (desc == NULL) {
    mkb_factory_status = moekit_experts_create(ctx, NULL, &e);
    return e;
  }
  moekit_experts_desc d = *desc;
  d.expert_map = (const int32_t*)expert_map;
  mkb_factory_status = moekit_experts_create(ctx, &d, &e);
  return e;
}

/* ---- queries --------------------------------------------------------------------------------------------- */
/* a = major, b = minor, c = patch */
void mkb_version(mkb_values* out) {
  int32_t major = 0, minor = 0, patch = 0;
  moekit_version(&major, &minor, &patch);
  if (out) { out->a = major; out->b = minor; out->c = patch; }
}

/* a = backend, b = device id */
moekit_status mkb_context_get_backend(struct moekit_context_s* ctx, mkb_values* out) {
  moekit_backend backend = MOEKIT_BACKEND_AUTO;
  int32_t device = 0;
  moekit_status s = moekit_context_get_backend(ctx, &backend, &device);
  if (s == MOEKIT_OK && out) { out->a = (int64_t)backend; out->b = device; }
  return s;
}

/* a = threads */
moekit_status mkb_context_get_num_threads(struct moekit_context_s* ctx, mkb_values* out) {
  int32_t n = 0;
  moekit_status s = moekit_context_get_num_threads(ctx, &n);
  if (s == MOEKIT_OK && out) out->a = n;
  return s;
}

/* a = hidden_pad, b = intermediate_pad */
moekit_status mkb_context_padded_sizes(struct moekit_context_s* ctx, int64_t hidden, int64_t intermediate,
                                       mkb_values* out) {
  int64_t h = 0, i = 0;
  moekit_status s = moekit_context_padded_sizes(ctx, hidden, intermediate, &h, &i);
  if (s == MOEKIT_OK && out) { out->a = h; out->b = i; }
  return s;
}

/* a = block_size, b = max_sorted, c = max_blocks */
moekit_status mkb_router_plan_sizes(struct moekit_router_s* router, int64_t num_tokens, mkb_values* out) {
  int32_t block = 0;
  int64_t sorted = 0, blocks = 0;
  moekit_status s = moekit_router_plan_sizes(router, num_tokens, &block, &sorted, &blocks);
  if (s == MOEKIT_OK && out) { out->a = block; out->b = sorted; out->c = blocks; }
  return s;
}

/* values shape (a, b), scales shape (c, d) */
moekit_status mkb_quantizer_output_shapes(struct moekit_quantizer_s* q, int64_t rows, int64_t cols,
                                          mkb_values* out) {
  int64_t v[2] = {0, 0}, sc[2] = {0, 0};
  moekit_status s = moekit_quantizer_output_shapes(q, rows, cols, v, sc);
  if (s == MOEKIT_OK && out) { out->a = v[0]; out->b = v[1]; out->c = sc[0]; out->d = sc[1]; }
  return s;
}

/* a = bytes */
moekit_status mkb_experts_workspace_size(struct moekit_experts_s* experts, int64_t num_tokens, int32_t top_k,
                                         mkb_values* out) {
  size_t bytes = 0;
  moekit_status s = moekit_experts_workspace_size(experts, num_tokens, top_k, &bytes);
  if (s == MOEKIT_OK && out) out->a = (int64_t)bytes;
  return s;
}

/* a = bytes */
moekit_status mkb_moe_forward_workspace_size(struct moekit_router_s* router, struct moekit_experts_s* experts,
                                             int64_t num_tokens, mkb_values* out) {
  size_t bytes = 0;
  moekit_status s = moekit_moe_forward_workspace_size(router, experts, num_tokens, &bytes);
  if (s == MOEKIT_OK && out) out->a = (int64_t)bytes;
  return s;
}
%}

/* ---- compute: every tensor is (address, descriptor); a NULL descriptor passes an absent tensor ------------ */
%inline %{
moekit_status mkb_router_run(struct moekit_router_s* router, mkb_data logits_data, const moekit_tensor* logits,
                             MKB_PLAN_PARAMS, mkb_data stream) {
  moekit_tensor l = mkb_bind(logits_data, logits);
  moekit_routing plan = mkb_plan(MKB_PLAN_ARGS);
  return moekit_router_run(router, logits ? &l : NULL, &plan, stream);
}

moekit_status mkb_router_build_plan(struct moekit_router_s* router, MKB_PLAN_PARAMS, mkb_data stream) {
  moekit_routing plan = mkb_plan(MKB_PLAN_ARGS);
  return moekit_router_build_plan(router, &plan, stream);
}

moekit_status mkb_router_gemm(struct moekit_context_s* ctx, mkb_data hidden_data, const moekit_tensor* hidden,
                              mkb_data w_gate_data, const moekit_tensor* w_gate, mkb_data bias_data,
                              const moekit_tensor* bias, mkb_data logits_data, const moekit_tensor* logits,
                              mkb_data stream) {
  moekit_tensor h = mkb_bind(hidden_data, hidden), w = mkb_bind(w_gate_data, w_gate);
  moekit_tensor b = mkb_bind(bias_data, bias), l = mkb_bind(logits_data, logits);
  return moekit_router_gemm(ctx, hidden ? &h : NULL, w_gate ? &w : NULL, bias ? &b : NULL, logits ? &l : NULL,
                            stream);
}

moekit_status mkb_quantize(struct moekit_quantizer_s* q, mkb_data input_data, const moekit_tensor* input,
                           mkb_data values_data, const moekit_tensor* values, mkb_data scales_data,
                           const moekit_tensor* scales, mkb_data stream) {
  moekit_tensor i = mkb_bind(input_data, input), v = mkb_bind(values_data, values);
  moekit_tensor s = mkb_bind(scales_data, scales);
  return moekit_quantize(q, input ? &i : NULL, values ? &v : NULL, scales ? &s : NULL, stream);
}

moekit_status mkb_dequantize(struct moekit_quantizer_s* q, mkb_data values_data, const moekit_tensor* values,
                             mkb_data scales_data, const moekit_tensor* scales, mkb_data output_data,
                             const moekit_tensor* output, mkb_data stream) {
  moekit_tensor v = mkb_bind(values_data, values), s = mkb_bind(scales_data, scales);
  moekit_tensor o = mkb_bind(output_data, output);
  return moekit_dequantize(q, values ? &v : NULL, scales ? &s : NULL, output ? &o : NULL, stream);
}

moekit_status mkb_experts_set_weights(struct moekit_experts_s* experts, mkb_data w13_data, const moekit_tensor* w13,
                                      mkb_data w2_data, const moekit_tensor* w2, mkb_data w13_scale_data,
                                      const moekit_tensor* w13_scale, mkb_data w2_scale_data,
                                      const moekit_tensor* w2_scale, mkb_data w13_bias_data,
                                      const moekit_tensor* w13_bias, mkb_data w2_bias_data,
                                      const moekit_tensor* w2_bias, mkb_data stream) {
  moekit_expert_weights w;
  memset(&w, 0, sizeof w);
  w.struct_size = sizeof w;
  w.w13 = mkb_bind(w13_data, w13);
  w.w2 = mkb_bind(w2_data, w2);
  w.w13_scale = mkb_bind(w13_scale_data, w13_scale);
  w.w2_scale = mkb_bind(w2_scale_data, w2_scale);
  w.w13_bias = mkb_bind(w13_bias_data, w13_bias);
  w.w2_bias = mkb_bind(w2_bias_data, w2_bias);
  return moekit_experts_set_weights(experts, &w, stream);
}

moekit_status mkb_experts_run(struct moekit_experts_s* experts, mkb_data hidden_data, const moekit_tensor* hidden,
                              MKB_PLAN_PARAMS, mkb_data out_data, const moekit_tensor* out, mkb_data workspace,
                              int64_t workspace_bytes, moekit_run_report* report, mkb_data stream) {
  moekit_tensor h = mkb_bind(hidden_data, hidden), o = mkb_bind(out_data, out);
  moekit_routing plan = mkb_plan(MKB_PLAN_ARGS);
  if (workspace_bytes < 0) workspace_bytes = 0; /* never turned into a huge size_t */
  return moekit_experts_run(experts, hidden ? &h : NULL, &plan, out ? &o : NULL, workspace,
                            (size_t)workspace_bytes, report, stream);
}

moekit_status mkb_moe_forward(struct moekit_router_s* router, struct moekit_experts_s* experts, mkb_data hidden_data,
                              const moekit_tensor* hidden, mkb_data logits_data, const moekit_tensor* logits,
                              mkb_data out_data, const moekit_tensor* out, mkb_data workspace,
                              int64_t workspace_bytes, moekit_run_report* report, mkb_data stream) {
  moekit_tensor h = mkb_bind(hidden_data, hidden), l = mkb_bind(logits_data, logits);
  moekit_tensor o = mkb_bind(out_data, out);
  if (workspace_bytes < 0) workspace_bytes = 0;
  return moekit_moe_forward(router, experts, hidden ? &h : NULL, logits ? &l : NULL, out ? &o : NULL, workspace,
                            (size_t)workspace_bytes, report, stream);
}
%}
