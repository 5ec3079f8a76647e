// The few CUDA driver-API calls `moekit bench` needs on the CUDA backend (device memory, a stream, events,
// graph capture), reached through dlopen("libcuda.so.1") only when the benchmark runs on CUDA: the moekit CLI
// never links CUDA, and on a machine without a driver nothing here is loaded.
//
// The driver API rather than libcudart: libcuda.so.1 comes with every driver on the system library path, while
// a libcudart.so is only where a toolkit is installed. libmoekit_cuda.so (static cudart) works in the device's
// primary context; this loader makes the same primary context current, so pointers, streams and events are
// shared with the module.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace moekit_cli {

// Opaque driver handles (CUstream, CUevent, CUgraph, CUgraphExec), declared here so that no CUDA header is needed.
using CuStream = void*;
using CuEvent = void*;
using CuGraph = void*;
using CuGraphExec = void*;

// Thin wrappers of driver calls. Each throws std::runtime_error("<call>: <driver message>") on failure.
class CudaDriver {
 public:
  // Loads libcuda.so.1, initialises the driver and makes device `device_id`'s primary context current on the
  // calling thread. Throws if the driver library or a symbol is missing.
  explicit CudaDriver(int device_id);
  ~CudaDriver();
  CudaDriver(const CudaDriver&) = delete;
  CudaDriver& operator=(const CudaDriver&) = delete;

  std::string device_name() const;
  void* malloc(size_t bytes);
  void free(void* ptr) noexcept;
  void upload(void* device_dst, const void* host_src, size_t bytes);
  void download(void* host_dst, const void* device_src, size_t bytes);
  void fill(void* device_dst, uint8_t byte, size_t bytes);
  void synchronize();  // the whole context

  CuStream create_stream();
  void destroy_stream(CuStream s) noexcept;
  void stream_synchronize(CuStream s);
  CuEvent create_event();
  void destroy_event(CuEvent e) noexcept;
  void record(CuEvent e, CuStream s);
  float elapsed_ms(CuEvent from, CuEvent to);

  // Global capture mode: nothing in the captured work may allocate, copy from the host or synchronise.
  void begin_capture(CuStream s);
  // Ends the capture; returns nullptr and sets `why` if the capture was invalidated.
  CuGraph end_capture(CuStream s, std::string& why);
  CuGraphExec instantiate(CuGraph g);
  void launch(CuGraphExec exec, CuStream s);
  void destroy_graph(CuGraph g) noexcept;
  void destroy_graph_exec(CuGraphExec e) noexcept;

  struct Api;  // the dlsym'd entry points (bench_cuda_driver.cpp)

 private:
  void check(int result, const char* call) const;
  void* library_ = nullptr;
  Api* api_ = nullptr;
  int device_ = 0;
  void* primary_context_ = nullptr;
};

}  // namespace moekit_cli
