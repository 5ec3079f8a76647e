// moekit: command-line front end of the library.
//   moekit info                      version, backends, devices, why a backend is unavailable
//   moekit run [--model NAME] ...    one MoE layer with random weights; routing stats, time, error vs reference
//   moekit bench [options]           the layer benchmark over presets, batch sizes and formats, as JSON
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "commands.h"
#include "model_presets.h"

namespace moekit_cli {

std::string Args::get(const std::string& key, const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

long long Args::get_int(const std::string& key, long long fallback) const {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0') throw std::invalid_argument("--" + key + ": not an integer");
  return v;
}

bool parse_args(int argc, char** argv, int first, const std::vector<std::string>& known, Args& out) {
  for (int i = first; i < argc; ++i) {
    if (std::strncmp(argv[i], "--", 2) != 0) {
      std::fprintf(stderr, "moekit: unexpected argument '%s'\n", argv[i]);
      return false;
    }
    const std::string key = argv[i] + 2;
    bool ok = false;
    for (const auto& k : known) ok = ok || k == key;
    if (!ok) {
      std::fprintf(stderr, "moekit: unknown option --%s\n", key.c_str());
      return false;
    }
    if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) out.options[key] = argv[++i];
    else out.options[key] = "";
  }
  return true;
}

}  // namespace moekit_cli

static void usage() {
  std::printf(
      "usage: moekit <command> [options]\n"
      "  info                         version, backends, devices, and why a backend is unavailable\n"
      "  run [options]                one MoE layer with random weights on the chosen backend\n"
      "      --model NAME             %s (default qwen3-30b-a3b)\n"
      "      --tokens T               tokens in the batch (default 64)\n"
      "      --scale S                divide hidden and intermediate sizes by S; 'auto' (default) picks the\n"
      "                               smallest S that keeps the CPU's f32 weight copy under 2 GiB\n"
      "      --weights FMT            bf16 | f16 | f32 | fp8 | mxfp4 | native (default native)\n"
      "      --backend B              auto | cpu | cuda | hip (default auto)\n"
      "      --threads N              CPU threads (default: all)\n"
      "      --iters N                timed repetitions (default 5)\n"
      "      --check N                tokens compared with the float64 reference (default 8)\n"
      "      --seed N                 random seed (default 1)\n"
      "  bench [options]              one full layer (routing + experts + combine) per preset x format x T,\n"
      "                               timed (CUDA: graph replays + events), checked vs float64, written as JSON\n"
      "      --presets A,B            default gpt-oss-120b,mixtral-8x7b,deepseek-v3,qwen3-30b-a3b\n"
      "      --tokens 1,16,...        default 1,16,64,256,1024,4096,16384\n"
      "      --formats bf16,fp8       default both (fp8 = 128x128-block weights, FP8 per-group activations)\n"
      "      --backend B              auto | cpu | cuda (default auto)\n"
      "      --out FILE.json          default moekit_bench.json\n"
      "      --warmup N --iters N     warm-up runs (3) and most timed runs (50) per point\n"
      "      --budget-ms MS           fewer timed runs when the most would take longer (default 100)\n"
      "      --scale S                divide H and I by S (default: 1 on CUDA, as `run --scale auto` on CPU)\n"
      "      --check N                tokens per point checked against float64 (default 3)\n"
      "      --sets N                 input sets (routings) rotated between timed runs (default 4)\n"
      "      --threads N --seed N     CPU threads, random seed\n"
      "      --quick                  tiny smoke run: scale 32, T 1,16,64, 2 runs per point\n",
      moekit_cli::preset_names().c_str());
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  using namespace moekit_cli;
  const std::string cmd = argv[1];
  Args args;
  try {
    if (cmd == "info") {
      if (!parse_args(argc, argv, 2, {}, args)) return 2;
      return cmd_info(args);
    }
    if (cmd == "run") {
      if (!parse_args(argc, argv, 2,
                      {"model", "tokens", "scale", "weights", "backend", "threads", "iters", "check", "seed"}, args))
        return 2;
      return cmd_run(args);
    }
    if (cmd == "bench") {
      if (!parse_args(argc, argv, 2,
                      {"presets", "tokens", "formats", "backend", "out", "warmup", "iters", "budget-ms", "scale",
                       "check", "sets", "threads", "seed", "quick"},
                      args))
        return 2;
      std::string command_line = "moekit";
      for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
      return cmd_bench(args, command_line);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moekit: %s\n", e.what());
    return 2;
  }
  std::fprintf(stderr, "moekit: unknown command '%s'\n", cmd.c_str());
  usage();
  return 2;
}
