// Where `moekit bench` keeps its buffers and how it times one layer call: host memory and a steady clock on the
// CPU backend; device memory, one stream, CUDA events and CUDA-graph replays on the CUDA backend (through the
// driver API, loaded at run time: see bench_cuda_driver.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "moekit/moekit.h"

namespace moekit_cli {

struct TimingResult {
  std::vector<double> run_us;  // one entry per timed run
  std::string method;          // "cuda-graph+events", "cuda-stream+events (...)", "host-steady-clock"
};

// One layer call made repeatable and timeable. `layer(set)` issues one layer on the device's stream using
// input set `set` (several sets rotate, so that timed runs do not all read the same routing's weights from L2).
class TimedLayer {
 public:
  virtual ~TimedLayer() = default;
  // One run of input set `set`, exactly as it is timed (a graph replay on CUDA); returns when it has finished.
  virtual void run_once(int set) = 0;
  // `warmup` untimed runs, then up to `max_iters` timed ones (at least `min_iters`), fewer when the runs seen in
  // warm-up say that max_iters would take longer than `budget_ms`.
  virtual TimingResult time(int warmup, int min_iters, int max_iters, double budget_ms) = 0;
};

class BenchDevice {
 public:
  virtual ~BenchDevice() = default;
  virtual moekit_device_type device_type() const = 0;
  virtual int32_t device_id() const = 0;
  virtual std::string name() const = 0;
  virtual void* stream() = 0;  // handed to moekit calls (nullptr on the CPU)

  virtual void* alloc(size_t bytes) = 0;  // at least 256-byte aligned
  virtual void release(void* p) noexcept = 0;
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;
  virtual void download(void* dst, const void* src, size_t bytes) = 0;  // waits for queued work first
  virtual void fill(void* dst, uint8_t byte, size_t bytes) = 0;
  virtual void synchronize() = 0;

  // Prepares `layer` for timing over `sets` input sets (CUDA: captures one graph per set; if capture fails,
  // falls back to timing direct stream launches and says why in the method).
  virtual std::unique_ptr<TimedLayer> prepare(std::function<void(int)> layer, int sets) = 0;
};

// The device matching a moekit context's backend. Throws if the CUDA driver cannot be loaded.
std::unique_ptr<BenchDevice> make_bench_device(moekit_backend backend, int32_t device_id);

// Owns one allocation of a BenchDevice.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(BenchDevice& dev, size_t bytes) : dev_(&dev), ptr_(dev.alloc(bytes)), bytes_(bytes) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : dev_(o.dev_), ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      dev_ = o.dev_;
      ptr_ = o.ptr_;
      bytes_ = o.bytes_;
      o.ptr_ = nullptr;
    }
    return *this;
  }
  void reset() noexcept {
    if (ptr_ != nullptr) dev_->release(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  BenchDevice* dev_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace moekit_cli
