#include "bench_device.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "bench_cuda_driver.h"

namespace moekit_cli {

namespace {

// Device time of untimed replays before a point is timed (CudaTimedLayer::time).
constexpr double kSteadyStateMs = 50.0;

// Timed runs that fit the budget, given the per-run estimate from warm-up.
int iterations_for(double estimate_us, int min_iters, int max_iters, double budget_ms) {
  if (estimate_us <= 0) return max_iters;
  const double fit = budget_ms * 1000.0 / estimate_us;
  return static_cast<int>(std::clamp<double>(fit, min_iters, std::max(min_iters, max_iters)));
}

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---- CPU: host memory, synchronous calls, steady clock --------------------------------------------------

class HostTimedLayer : public TimedLayer {
 public:
  HostTimedLayer(std::function<void(int)> layer, int sets) : layer_(std::move(layer)), sets_(std::max(1, sets)) {}
  void run_once(int set) override { layer_(set); }
  TimingResult time(int warmup, int min_iters, int max_iters, double budget_ms) override {
    const int probes = std::max(1, warmup);
    const double start = now_us();
    for (int i = 0; i < probes; ++i) layer_(i % sets_);
    const int n = iterations_for((now_us() - start) / probes, min_iters, max_iters, budget_ms);
    TimingResult r;
    r.method = "host-steady-clock";
    for (int i = 0; i < n; ++i) {
      const double t0 = now_us();
      layer_(i % sets_);
      r.run_us.push_back(now_us() - t0);
    }
    return r;
  }

 private:
  std::function<void(int)> layer_;
  int sets_;
};

class HostBenchDevice : public BenchDevice {
 public:
  moekit_device_type device_type() const override { return MOEKIT_DEVICE_CPU; }
  int32_t device_id() const override { return 0; }
  std::string name() const override { return "host"; }
  void* stream() override { return nullptr; }
  void* alloc(size_t bytes) override {
    const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
    void* p = std::aligned_alloc(256, rounded);
    if (p == nullptr) throw std::runtime_error("out of host memory (" + std::to_string(bytes) + " bytes)");
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void fill(void* dst, uint8_t byte, size_t bytes) override { std::memset(dst, byte, bytes); }
  void synchronize() override {}
  std::unique_ptr<TimedLayer> prepare(std::function<void(int)> layer, int sets) override {
    return std::make_unique<HostTimedLayer>(std::move(layer), sets);
  }
};

// ---- CUDA: driver API, one stream, graphs + events --------------------------------------------------------

class CudaTimedLayer : public TimedLayer {
 public:
  CudaTimedLayer(CudaDriver& drv, CuStream stream, std::function<void(int)> layer, int sets)
      : drv_(drv), stream_(stream), layer_(std::move(layer)), sets_(std::max(1, sets)) {
    for (int s = 0; s < sets_ && capture_error_.empty(); ++s) capture(s);
    if (!capture_error_.empty()) destroy_graphs();  // time direct launches instead, and say why
  }
  ~CudaTimedLayer() override { destroy_graphs(); }

  void run_once(int set) override {
    issue(set);
    drv_.stream_synchronize(stream_);
  }

  TimingResult time(int warmup, int min_iters, int max_iters, double budget_ms) override {
    const int probes = std::max(1, warmup);
    CuEvent a = drv_.create_event(), b = drv_.create_event();
    drv_.record(a, stream_);
    for (int i = 0; i < probes; ++i) issue(i % sets_);
    drv_.record(b, stream_);
    const double estimate_us = 1000.0 * drv_.elapsed_ms(a, b) / probes;
    drv_.destroy_event(a);
    drv_.destroy_event(b);
    // Keep the device busy for kSteadyStateMs before timing: after the seconds of host-side weight generation
    // the GPU has idled, and a few probe runs of a short layer end before its clocks are back up.
    const double steady_estimate = std::ceil(1000.0 * kSteadyStateMs / std::max(estimate_us, 1.0));
    const int steady_runs = static_cast<int>(std::min(5000.0, steady_estimate));
    for (int i = 0; i < steady_runs; ++i) issue(i % sets_);
    const int n = iterations_for(estimate_us, min_iters, max_iters, budget_ms);
    // Back-to-back runs with an event between each pair: every interval is one run's device time.
    std::vector<CuEvent> events;
    for (int i = 0; i <= n; ++i) events.push_back(drv_.create_event());
    drv_.record(events[0], stream_);
    for (int i = 0; i < n; ++i) {
      issue(i % sets_);
      drv_.record(events[static_cast<size_t>(i) + 1], stream_);
    }
    TimingResult r;
    r.method = capture_error_.empty() ? "cuda-graph+events" : "cuda-stream+events (graph capture failed: " +
                                                                  capture_error_ + ")";
    for (int i = 0; i < n; ++i)
      r.run_us.push_back(1000.0 * drv_.elapsed_ms(events[static_cast<size_t>(i)], events[static_cast<size_t>(i) + 1]));
    for (CuEvent e : events) drv_.destroy_event(e);
    return r;
  }

 private:
  void capture(int set) {
    drv_.begin_capture(stream_);
    std::string why;
    try {
      layer_(set);
    } catch (const std::exception& e) {
      why = e.what();
    }
    std::string end_why;
    CuGraph g = drv_.end_capture(stream_, end_why);
    if (!why.empty() || g == nullptr) {
      capture_error_ = !why.empty() ? why : end_why;
      drv_.destroy_graph(g);
      return;
    }
    graphs_.push_back(g);
    execs_.push_back(drv_.instantiate(g));
  }
  void issue(int set) {
    if (capture_error_.empty()) drv_.launch(execs_[static_cast<size_t>(set)], stream_);
    else layer_(set);
  }
  void destroy_graphs() {
    for (CuGraphExec e : execs_) drv_.destroy_graph_exec(e);
    for (CuGraph g : graphs_) drv_.destroy_graph(g);
    execs_.clear();
    graphs_.clear();
  }

  CudaDriver& drv_;
  CuStream stream_;
  std::function<void(int)> layer_;
  int sets_;
  std::vector<CuGraph> graphs_;
  std::vector<CuGraphExec> execs_;
  std::string capture_error_;
};

class CudaBenchDevice : public BenchDevice {
 public:
  explicit CudaBenchDevice(int32_t device_id) : id_(device_id), drv_(device_id), stream_(drv_.create_stream()) {}
  ~CudaBenchDevice() override {
    try {
      drv_.synchronize();
    } catch (...) {  // a sticky device error: nothing more to do while tearing down
    }
    drv_.destroy_stream(stream_);
  }
  moekit_device_type device_type() const override { return MOEKIT_DEVICE_CUDA; }
  int32_t device_id() const override { return id_; }
  std::string name() const override { return drv_.device_name(); }
  void* stream() override { return stream_; }
  void* alloc(size_t bytes) override { return drv_.malloc(bytes); }  // cuMemAlloc: 256-byte aligned at least
  void release(void* p) noexcept override { drv_.free(p); }
  void upload(void* dst, const void* src, size_t bytes) override {
    drv_.synchronize();  // the destination may still be read by queued work
    drv_.upload(dst, src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) override { drv_.download(dst, src, bytes); }
  void fill(void* dst, uint8_t byte, size_t bytes) override { drv_.fill(dst, byte, bytes); }
  void synchronize() override { drv_.synchronize(); }
  std::unique_ptr<TimedLayer> prepare(std::function<void(int)> layer, int sets) override {
    return std::make_unique<CudaTimedLayer>(drv_, stream_, std::move(layer), sets);
  }

 private:
  int32_t id_;
  CudaDriver drv_;
  CuStream stream_;
};

}  // namespace

std::unique_ptr<BenchDevice> make_bench_device(moekit_backend backend, int32_t device_id) {
  switch (backend) {
    case MOEKIT_BACKEND_CPU: return std::make_unique<HostBenchDevice>();
    case MOEKIT_BACKEND_CUDA: return std::make_unique<CudaBenchDevice>(device_id);
    default: throw std::invalid_argument("--backend: moekit bench has no device support for this backend");
  }
}

}  // namespace moekit_cli
