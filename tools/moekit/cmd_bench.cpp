// `moekit bench`: one full MoE layer (moekit_moe_forward: routing from logits + experts + combine) over model
// presets, batch sizes and weight formats, with uniform random routing. Times CUDA-graph replays with CUDA
// events on the CUDA backend (a steady clock on the CPU), checks sampled tokens of every point against the
// float64 reference, and writes one JSON object per point (see bench/README.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <set>
#include <sstream>
#include <stdexcept>

#include "bench_check.h"
#include "bench_device.h"
#include "bench_report.h"
#include "bench_weights.h"
#include "commands.h"
#include "model_presets.h"
#include "random_layer.h"  // check()

namespace moekit_cli {

namespace {

struct BenchOptions {
  std::vector<const ModelPreset*> presets;
  std::vector<int64_t> tokens;
  std::vector<moekit_weight_format> formats;
  moekit_backend backend = MOEKIT_BACKEND_AUTO;
  std::string out_path;
  int warmup = 3, min_iters = 5, max_iters = 50;
  double budget_ms = 100;
  int64_t scale = 0;  // 0: CUDA full size, CPU the `moekit run` auto rule
  int check_tokens = 3, input_sets = 4, threads = 0;
  uint64_t seed = 1;
  std::string command_line;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

const char* format_label(moekit_weight_format f) { return f == MOEKIT_WEIGHTS_FP8_BLOCK ? "fp8-block128" : "bf16"; }

moekit_backend parse_backend(const std::string& s) {
  if (s == "auto") return MOEKIT_BACKEND_AUTO;
  if (s == "cpu") return MOEKIT_BACKEND_CPU;
  if (s == "cuda") return MOEKIT_BACKEND_CUDA;
  throw std::invalid_argument("--backend: expected auto, cpu or cuda, got '" + s + "'");
}

// Same rule as `moekit run`: the largest multiple of 128 (FP8 blocks stay whole) not above full / scale.
int64_t scaled_dim(int64_t full, int64_t scale) {
  if (scale == 1) return full;
  return std::max<int64_t>(128, (full / scale) / 128 * 128);
}

// CPU backend: the smallest power-of-two scale that keeps its f32 copy of the weights under 2 GiB.
int64_t cpu_auto_scale(const ModelPreset& p) {
  for (int64_t s = 1;; s *= 2) {
    const double bytes = 4.0 * p.num_experts * 3.0 * scaled_dim(p.hidden, s) * scaled_dim(p.intermediate, s);
    if (bytes <= 2.0 * 1024 * 1024 * 1024 || s >= 64) return s;
  }
}

BenchOptions parse_options(const Args& args) {
  BenchOptions o;
  const bool quick = args.has("quick");
  for (const auto& name : split_list(args.get("presets", "gpt-oss-120b,mixtral-8x7b,deepseek-v3,qwen3-30b-a3b"))) {
    const ModelPreset* p = find_preset(name);
    if (p == nullptr) throw std::invalid_argument("--presets: unknown model '" + name + "' (known: " + preset_names() + ")");
    o.presets.push_back(p);
  }
  for (const auto& t : split_list(args.get("tokens", quick ? "1,16,64" : "1,16,64,256,1024,4096,16384"))) {
    char* end = nullptr;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    if (end == t.c_str() || *end != '\0' || v < 1) throw std::invalid_argument("--tokens: '" + t + "' is not a count >= 1");
    o.tokens.push_back(v);
  }
  for (const auto& f : split_list(args.get("formats", "bf16,fp8"))) {
    if (f == "bf16") o.formats.push_back(MOEKIT_WEIGHTS_BF16);
    else if (f == "fp8") o.formats.push_back(MOEKIT_WEIGHTS_FP8_BLOCK);
    else throw std::invalid_argument("--formats: expected bf16 and/or fp8, got '" + f + "'");
  }
  if (o.presets.empty() || o.tokens.empty() || o.formats.empty())
    throw std::invalid_argument("--presets, --tokens and --formats must each name at least one value");
  o.backend = parse_backend(args.get("backend", "auto"));
  o.out_path = args.get("out", "moekit_bench.json");
  o.warmup = static_cast<int>(args.get_int("warmup", quick ? 1 : 3));
  o.max_iters = static_cast<int>(args.get_int("iters", quick ? 2 : 50));
  o.min_iters = std::min(o.max_iters, quick ? 2 : 5);
  o.budget_ms = static_cast<double>(args.get_int("budget-ms", quick ? 1 : 100));
  o.scale = args.has("scale") ? args.get_int("scale", 1) : (quick ? 32 : 0);
  o.check_tokens = static_cast<int>(args.get_int("check", quick ? 2 : 3));
  o.input_sets = static_cast<int>(args.get_int("sets", 4));
  o.threads = static_cast<int>(args.get_int("threads", 0));
  o.seed = static_cast<uint64_t>(args.get_int("seed", 1));
  if (o.warmup < 0 || o.max_iters < 1) throw std::invalid_argument("--warmup must be >= 0 and --iters >= 1");
  if (o.scale < 0) throw std::invalid_argument("--scale: must be >= 1");
  if (o.check_tokens < 1) throw std::invalid_argument("--check: must be >= 1 (every point is checked)");
  if (o.input_sets < 1 || o.input_sets > 64) throw std::invalid_argument("--sets: must be in [1, 64]");
  if (o.budget_ms <= 0) throw std::invalid_argument("--budget-ms: must be > 0");
  return o;
}

// Tokens checked against the reference: spread over the batch, always the first and the last (tails of tiles).
std::vector<int64_t> sampled_tokens(int64_t T, int n) {
  std::set<int64_t> s;
  if (n == 1 || T == 1) s.insert(0);
  else
    for (int i = 0; i < n; ++i) s.insert(static_cast<int64_t>(i) * (T - 1) / (n - 1));
  return {s.begin(), s.end()};
}

moekit_tensor tensor_on(const BenchDevice& dev, void* data, moekit_dtype dtype, std::vector<int64_t> shape) {
  moekit_tensor t{};
  check(moekit_tensor_init(&t, data, dtype, static_cast<int32_t>(shape.size()), shape.data()), "tensor");
  t.device_type = dev.device_type();
  t.device_id = dev.device_id();
  return t;
}

// A moekit failure carrying its status, so that UNSUPPORTED can be told from errors.
struct MoekitFailure : std::runtime_error {
  moekit_status status;
  MoekitFailure(moekit_status st, const std::string& what) : std::runtime_error(what), status(st) {}
};
void require(moekit_status st, const char* what) {
  if (st != MOEKIT_OK) throw MoekitFailure(st, std::string(what) + ": " + moekit_last_error());
}

void mark(BenchPoint& p, const std::exception& e) {
  const auto* f = dynamic_cast<const MoekitFailure*>(&e);
  p.status = f != nullptr && f->status == MOEKIT_ERR_UNSUPPORTED ? "unsupported" : "error";
  p.message = e.what();
}

// One preset in one weight format, resident on the device: experts with their weights, the router, and the
// inputs for the largest batch (smaller batches use the leading rows).
class LayerBench {
 public:
  LayerBench(moekit_context ctx, BenchDevice& dev, const BenchOptions& opt, const ModelPreset& preset,
             moekit_weight_format format, int64_t scale)
      : ctx_(ctx), dev_(dev), opt_(opt), preset_(preset), format_(format) {
    shape_.hidden = scaled_dim(preset.hidden, scale);
    shape_.intermediate = scaled_dim(preset.intermediate, scale);
    shape_.num_experts = preset.num_experts;
    shape_.top_k = preset.top_k;
    act_quant_ = format == MOEKIT_WEIGHTS_FP8_BLOCK ? MOEKIT_ACT_QUANT_FP8_PER_GROUP : MOEKIT_ACT_QUANT_NONE;
  }
  ~LayerBench() {
    moekit_experts_destroy(experts_);
    moekit_router_destroy(router_);
  }
  LayerBench(const LayerBench&) = delete;
  LayerBench& operator=(const LayerBench&) = delete;

  const BenchShape& shape() const { return shape_; }

  // Generates and uploads everything; throws MoekitFailure (UNSUPPORTED or not) or runtime_error.
  void setup(int64_t max_tokens) {
    const int64_t H = shape_.hidden, E = shape_.num_experts, k = shape_.top_k;
    moekit_experts_desc ed = MOEKIT_EXPERTS_DESC_INIT;
    ed.num_experts = ed.num_local_experts = shape_.num_experts;
    ed.hidden_size = H;
    ed.intermediate_size = shape_.intermediate;
    ed.activation = preset_.activation;
    ed.weight_format = format_;
    ed.act_quant = act_quant_;
    ed.has_w13_bias = ed.has_w2_bias = preset_.expert_biases;
    require(moekit_experts_create(ctx_, &ed, &experts_), "experts_create");  // before 20 GB of weights exist
    const auto t0 = std::chrono::steady_clock::now();
    weights_ = make_bench_weights(preset_, shape_, format_, opt_.seed);
    const auto t1 = std::chrono::steady_clock::now();
    upload_weights();
    const auto t2 = std::chrono::steady_clock::now();
    std::fprintf(stderr, "[bench]   %.2f GB of weights generated in %.1f s, uploaded and set in %.1f s\n",
                 static_cast<double>(weights_.bytes_per_expert()) * static_cast<double>(E) * 1e-9,
                 std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count());

    moekit_router_desc rd = MOEKIT_ROUTER_DESC_INIT;
    rd.num_experts = shape_.num_experts;
    rd.top_k = shape_.top_k;
    rd.scoring = preset_.scoring;
    rd.renormalize = preset_.renormalize;
    rd.num_expert_groups = preset_.num_expert_groups;
    rd.topk_groups = preset_.topk_groups;
    rd.routed_scaling_factor = preset_.routed_scaling_factor;
    // DeepSeek-V3's correction bias, zero: the biased selection path runs and routing stays uniform.
    const std::vector<float> zero_bias(static_cast<size_t>(E), 0.0f);
    rd.correction_bias = preset_.correction_bias ? zero_bias.data() : nullptr;
    require(moekit_router_create(ctx_, &rd, &router_), "router_create");

    hidden_host_ = make_bf16_matrix(max_tokens, H, 1.0f, opt_.seed + 11);
    hidden_ = DeviceBuffer(dev_, hidden_host_.size);
    dev_.upload(hidden_.get(), hidden_host_.data.get(), hidden_host_.size);
    for (int s = 0; s < opt_.input_sets; ++s) {
      // Uniform logits in [-2, 2]: every expert equally likely, different experts in every set.
      const HostBytes l = make_f32_matrix(max_tokens, E, 2.0f, opt_.seed + 101 + static_cast<uint64_t>(s));
      logits_.emplace_back(dev_, l.size);
      dev_.upload(logits_.back().get(), l.data.get(), l.size);
    }
    out_ = DeviceBuffer(dev_, static_cast<size_t>(max_tokens * H) * 2);
    topk_ids_ = DeviceBuffer(dev_, static_cast<size_t>(max_tokens * k) * 4);
    topk_weights_ = DeviceBuffer(dev_, static_cast<size_t>(max_tokens * k) * 4);
    dev_.synchronize();
  }

  // Times and checks batch size T into `p` (status, message and numbers); the check finishes in `check`.
  void run_point(int64_t T, BenchPoint& p, std::future<CheckResult>& check) {
    const int64_t H = shape_.hidden, E = shape_.num_experts, k = shape_.top_k;
    size_t ws_bytes = 0;
    require(moekit_moe_forward_workspace_size(router_, experts_, T, &ws_bytes), "moe_forward_workspace_size");
    DeviceBuffer ws(dev_, ws_bytes);
    moekit_tensor hidden = tensor_on(dev_, hidden_.get(), MOEKIT_DTYPE_BF16, {T, H});
    moekit_tensor out = tensor_on(dev_, out_.get(), MOEKIT_DTYPE_BF16, {T, H});
    std::vector<moekit_tensor> logits;
    for (auto& l : logits_) logits.push_back(tensor_on(dev_, l.get(), MOEKIT_DTYPE_F32, {T, E}));
    auto forward = [&, ws_ptr = ws_bytes ? ws.get() : nullptr](int set, moekit_run_report* report) {
      require(moekit_moe_forward(router_, experts_, &hidden, &logits[static_cast<size_t>(set)], &out, ws_ptr, ws_bytes,
                                 report, dev_.stream()),
              "moe_forward");
    };

    // 1. A direct run: status, the kernel report, and warm-up of anything a backend sets up lazily.
    dev_.fill(out_.get(), 0xFF, static_cast<size_t>(T * H) * 2);
    moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
    const auto direct_start = std::chrono::steady_clock::now();
    forward(0, &report);
    dev_.synchronize();
    const double direct_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - direct_start).count();
    p.kernel = report.kernel;
    p.detail = report.detail;
    p.report_experts_touched = report.experts_touched;

    // 2. Routing of every input set (same router, same logits): distinct experts, bytes, FLOPs.
    std::vector<int32_t> ids(static_cast<size_t>(T * k)), ids0;
    std::vector<float> weights0(static_cast<size_t>(T * k));
    double touched_sum = 0;
    for (size_t s = 0; s < logits.size(); ++s) {
      moekit_routing plan{};
      plan.struct_size = sizeof plan;
      plan.topk_ids = tensor_on(dev_, topk_ids_.get(), MOEKIT_DTYPE_I32, {T, k});
      plan.topk_weights = tensor_on(dev_, topk_weights_.get(), MOEKIT_DTYPE_F32, {T, k});
      require(moekit_router_run(router_, &logits[s], &plan, dev_.stream()), "router_run");
      dev_.download(ids.data(), topk_ids_.get(), ids.size() * 4);
      std::vector<bool> seen(static_cast<size_t>(E), false);
      for (int32_t id : ids)
        if (id >= 0 && id < E) seen[static_cast<size_t>(id)] = true;
      touched_sum += static_cast<double>(std::count(seen.begin(), seen.end(), true));
      if (s == 0) {
        ids0 = ids;
        dev_.download(weights0.data(), topk_weights_.get(), weights0.size() * 4);
      }
    }
    p.input_sets = static_cast<int>(logits.size());
    p.experts_touched = touched_sum / static_cast<double>(logits.size());
    p.weight_bytes = p.experts_touched * static_cast<double>(weights_.bytes_per_expert());
    p.flops = 2.0 * static_cast<double>(T) * k * 3.0 * static_cast<double>(H) * static_cast<double>(shape_.intermediate);

    // 3. Timing: CUDA-graph replays (CUDA) / direct calls (CPU), rotating through the input sets.
    auto timed = dev_.prepare([&](int set) { forward(set, nullptr); }, static_cast<int>(logits.size()));
    // A layer slower than the whole budget was warmed by the direct run: one probe run and two timed runs.
    const bool slow = direct_ms > opt_.budget_ms;
    TimingResult t = timed->time(slow ? 0 : opt_.warmup, slow ? std::min(2, opt_.min_iters) : opt_.min_iters,
                                 opt_.max_iters, opt_.budget_ms);
    std::vector<double> us = t.run_us;
    std::sort(us.begin(), us.end());
    p.timing_method = t.method;
    p.iterations = static_cast<int>(us.size());
    p.median_us = us[us.size() / 2];
    p.min_us = us.front();

    // 4. What was timed is what is checked: poison the output, one more timed-style run of set 0, sample it.
    dev_.fill(out_.get(), 0xFF, static_cast<size_t>(T * H) * 2);
    timed->run_once(0);
    SampledTokens sample;
    sample.token_index = sampled_tokens(T, opt_.check_tokens);
    for (int64_t t_i : sample.token_index) {
      const auto row = static_cast<size_t>(t_i);
      const uint16_t* h = reinterpret_cast<const uint16_t*>(hidden_host_.data.get()) + row * static_cast<size_t>(H);
      sample.hidden.insert(sample.hidden.end(), h, h + H);
      sample.topk_ids.insert(sample.topk_ids.end(), ids0.begin() + t_i * k, ids0.begin() + (t_i + 1) * k);
      sample.topk_weights.insert(sample.topk_weights.end(), weights0.begin() + t_i * k, weights0.begin() + (t_i + 1) * k);
      std::vector<uint16_t> o(static_cast<size_t>(H));
      dev_.download(o.data(), static_cast<const uint8_t*>(out_.get()) + row * static_cast<size_t>(H) * 2, o.size() * 2);
      sample.out.insert(sample.out.end(), o.begin(), o.end());
    }
    // The float64 check runs on host threads while the device times the next point.
    check = std::async(std::launch::async, [this, sample = std::move(sample)] {
      return check_sampled_tokens(preset_, weights_, act_quant_, sample);
    });
  }

 private:
  // Device copies of the host weights for set_weights (the runner keeps its own layout), freed afterwards.
  void upload_weights() {
    const HostExpertWeights& w = weights_;
    std::vector<DeviceBuffer> staged;
    auto stage = [&](const HostBytes& b, moekit_dtype dt, std::vector<int64_t> shape) {
      moekit_tensor t{};
      if (!b.present()) return t;
      staged.emplace_back(dev_, b.size);
      dev_.upload(staged.back().get(), b.data.get(), b.size);
      return tensor_on(dev_, staged.back().get(), dt, std::move(shape));
    };
    const bool fp8 = format_ == MOEKIT_WEIGHTS_FP8_BLOCK;
    const moekit_dtype vt = fp8 ? MOEKIT_DTYPE_F8_E4M3FN : MOEKIT_DTYPE_BF16;
    const int64_t E = shape_.num_experts, H = shape_.hidden, I = shape_.intermediate;
    moekit_expert_weights ew{};
    ew.struct_size = sizeof ew;
    ew.w13 = stage(w.w13, vt, w.w13_shape());
    ew.w2 = stage(w.w2, vt, w.w2_shape());
    ew.w13_scale = stage(w.w13_scale, MOEKIT_DTYPE_F32, w.w13_scale_shape());
    ew.w2_scale = stage(w.w2_scale, MOEKIT_DTYPE_F32, w.w2_scale_shape());
    ew.w13_bias = stage(w.w13_bias, MOEKIT_DTYPE_F32, {E, 2 * I});
    ew.w2_bias = stage(w.w2_bias, MOEKIT_DTYPE_F32, {E, H});
    require(moekit_experts_set_weights(experts_, &ew, dev_.stream()), "experts_set_weights");
    dev_.synchronize();
  }

  moekit_context ctx_;
  BenchDevice& dev_;
  const BenchOptions& opt_;
  const ModelPreset& preset_;
  moekit_weight_format format_;
  moekit_act_quant act_quant_;
  BenchShape shape_;
  HostExpertWeights weights_;
  HostBytes hidden_host_;
  moekit_experts experts_ = nullptr;
  moekit_router router_ = nullptr;
  DeviceBuffer hidden_, out_, topk_ids_, topk_weights_;
  std::vector<DeviceBuffer> logits_;
};

// Every point of one preset in one format. Failures stay in the points (status + message).
void bench_layer(moekit_context ctx, BenchDevice& dev, const BenchOptions& opt, const ModelPreset& preset,
                 moekit_weight_format format, const std::string& backend_name, const std::string& device,
                 std::vector<BenchPoint>& all) {
  const int64_t scale = opt.scale > 0 ? opt.scale
                        : dev.device_type() == MOEKIT_DEVICE_CPU ? cpu_auto_scale(preset) : 1;
  LayerBench layer(ctx, dev, opt, preset, format, scale);
  std::vector<BenchPoint> points;
  for (int64_t T : opt.tokens) {
    BenchPoint p;
    p.preset = preset.name;
    p.format = format_label(format);
    p.backend = backend_name;
    p.device = device;
    p.tokens = T;
    p.hidden = layer.shape().hidden;
    p.intermediate = layer.shape().intermediate;
    p.num_experts = layer.shape().num_experts;
    p.top_k = layer.shape().top_k;
    p.scale = scale;
    p.check_tolerance = check_tolerance(format);
    points.push_back(p);
  }
  std::vector<std::future<CheckResult>> checks(points.size());
  try {
    std::fprintf(stderr, "[bench] %s %s: H=%lld I=%lld E=%d k=%d (scale 1/%lld), generating and uploading weights\n",
                 preset.name.c_str(), format_label(format), (long long)layer.shape().hidden,
                 (long long)layer.shape().intermediate, layer.shape().num_experts, layer.shape().top_k,
                 (long long)scale);
    layer.setup(*std::max_element(opt.tokens.begin(), opt.tokens.end()));
  } catch (const std::exception& e) {
    for (auto& p : points) mark(p, e);
  }
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i].status != "ok") break;  // set-up failed: every point carries the reason
    try {
      if (i > 0 && checks[i - 1].valid()) checks[i - 1].wait();  // one check in flight: bounded host memory
      layer.run_point(points[i].tokens, points[i], checks[i]);
    } catch (const std::exception& e) {
      mark(points[i], e);
    }
  }
  for (size_t i = 0; i < points.size(); ++i) {
    if (!checks[i].valid()) continue;
    try {
      const CheckResult r = checks[i].get();
      BenchPoint& p = points[i];
      p.checked_tokens = r.tokens;
      p.check_rel_l2 = r.max_rel_l2;
      p.check_tolerance = r.tolerance;
      p.check_passed = r.passed;
      if (!r.passed && p.status == "ok") {
        p.status = "error";
        p.message = "accuracy check failed: " + r.message;
      }
    } catch (const std::exception& e) {
      points[i].status = "error";
      points[i].message = std::string("accuracy check could not run: ") + e.what();
    }
  }
  for (const auto& p : points) {
    std::printf("%s\n", describe_point(p).c_str());
    all.push_back(p);
  }
  std::fflush(stdout);
}

}  // namespace

int cmd_bench(const Args& args, const std::string& command_line) {
  BenchOptions opt = parse_options(args);
  opt.command_line = command_line;
  moekit_context ctx = nullptr;
  check(moekit_context_create(opt.backend, 0, &ctx), "context");
  struct ContextGuard {
    moekit_context c;
    ~ContextGuard() { moekit_context_destroy(c); }
  } guard{ctx};
  if (opt.threads > 0) check(moekit_context_set_num_threads(ctx, opt.threads), "--threads");
  moekit_backend backend = MOEKIT_BACKEND_CPU;
  int32_t device_id = 0;
  check(moekit_context_get_backend(ctx, &backend, &device_id), "context backend");
  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  check(moekit_backend_query(backend, &info), "backend query");
  std::unique_ptr<BenchDevice> dev = make_bench_device(backend, device_id);
  const std::string device = dev->name() + ": " + info.detail;
  std::printf("moekit bench on %s (%s)\n", info.name, device.c_str());

  std::vector<BenchPoint> points;
  for (const ModelPreset* preset : opt.presets)
    for (moekit_weight_format f : opt.formats) {
      bench_layer(ctx, *dev, opt, *preset, f, info.name, device, points);
      write_bench_json(opt.out_path, points, opt.command_line);  // partial results survive an interrupted run
    }
  const auto errors = std::count_if(points.begin(), points.end(), [](const BenchPoint& p) { return p.status == "error"; });
  const auto unsupported =
      std::count_if(points.begin(), points.end(), [](const BenchPoint& p) { return p.status == "unsupported"; });
  std::printf("%zu points (%lld unsupported, %lld errors) written to %s\n", points.size(), (long long)unsupported,
              (long long)errors, opt.out_path.c_str());
  return errors == 0 ? 0 : 1;
}

}  // namespace moekit_cli
