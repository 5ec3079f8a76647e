// moekit: command-line front end of the library.
//   moekit info                      version, backends, devices, why a backend is unavailable
//   moekit run [--model NAME] ...    one MoE layer with random weights; routing stats, time, error vs reference
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
      "      --seed N                 random seed (default 1)\n",
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
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moekit: %s\n", e.what());
    return 2;
  }
  std::fprintf(stderr, "moekit: unknown command '%s'\n", cmd.c_str());
  usage();
  return 2;
}
