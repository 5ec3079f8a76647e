#include "bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "moekit/moekit.h"

namespace moekit_cli {

namespace {

struct VllmReference {
  const char* preset;
  const char* format;
  int64_t tokens;
  double us;
};

// Issue 3's reference: vLLM's Triton fused_moe (best of a config sweep, CUDA-graph replay) on this H200.
constexpr VllmReference kVllm[] = {
    {"gpt-oss-120b", "bf16", 1, 123},         {"gpt-oss-120b", "bf16", 64, 1350},
    {"gpt-oss-120b", "bf16", 4096, 2627},     {"gpt-oss-120b", "bf16", 16384, 7377},
    {"mixtral-8x7b", "bf16", 1, 241},         {"mixtral-8x7b", "bf16", 256, 901},
    {"mixtral-8x7b", "bf16", 16384, 20970},   {"deepseek-v3", "bf16", 1, 239},
    {"deepseek-v3", "bf16", 256, 5083},       {"deepseek-v3", "bf16", 16384, 23655},
    {"qwen3-30b-a3b", "bf16", 1, 95},         {"qwen3-30b-a3b", "bf16", 64, 385},
    {"qwen3-30b-a3b", "bf16", 1024, 547},     {"qwen3-30b-a3b", "bf16", 16384, 3103},
    {"deepseek-v3", "fp8-block128", 16, 1120}, {"deepseek-v3", "fp8-block128", 16384, 27471},
    {"qwen3-30b-a3b", "fp8-block128", 16, 212}, {"qwen3-30b-a3b", "fp8-block128", 16384, 4941},
};

// A JSON string literal.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// A JSON number; NaN / Inf (no JSON form) become null.
std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Fields of one object, written in order.
class JsonObject {
 public:
  JsonObject& add(const std::string& key, const std::string& raw_value) {
    body_ += (body_.empty() ? "" : ", ") + quote(key) + ": " + raw_value;
    return *this;
  }
  JsonObject& str(const std::string& key, const std::string& v) { return add(key, quote(v)); }
  JsonObject& num(const std::string& key, double v) { return add(key, number(v)); }
  JsonObject& integer(const std::string& key, int64_t v) { return add(key, std::to_string(v)); }
  JsonObject& boolean(const std::string& key, bool v) { return add(key, v ? "true" : "false"); }
  std::string text() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

std::string point_json(const BenchPoint& p) {
  const bool measured = p.status == "ok";
  const double vllm = p.vllm_reference_us();
  JsonObject o;
  o.str("preset", p.preset).str("format", p.format).integer("T", p.tokens).str("backend", p.backend);
  o.integer("H", p.hidden).integer("I", p.intermediate).integer("E", p.num_experts).integer("k", p.top_k);
  o.integer("scale", p.scale).str("status", p.status).str("message", p.message);
  o.str("kernel", p.kernel).str("detail", p.detail).str("timing", p.timing_method);
  o.integer("iterations", p.iterations).integer("input_sets", p.input_sets);
  o.num("median_us", measured ? p.median_us : NAN).num("min_us", measured ? p.min_us : NAN);
  o.num("experts_touched", p.experts_touched).integer("report_experts_touched", p.report_experts_touched);
  o.num("weight_bytes_touched", p.weight_bytes).num("flops", p.flops);
  o.num("achieved_tbps", measured ? p.achieved_tbps() : NAN);
  o.num("achieved_tflops", measured ? p.achieved_tflops() : NAN);
  o.num("roofline_us", p.roofline_us()).num("pct_of_roofline", measured ? p.pct_of_roofline() : NAN);
  o.num("vllm_us", vllm > 0 ? vllm : NAN).num("time_over_vllm", vllm > 0 && measured ? p.median_us / vllm : NAN);
  JsonObject check;
  check.integer("tokens", p.checked_tokens).num("max_rel_l2", p.check_rel_l2).num("tolerance", p.check_tolerance);
  check.boolean("passed", p.check_passed);
  o.add("check", check.text());
  return o.text();
}

}  // namespace

double BenchPoint::roofline_us() const {
  return 1e6 * std::max(weight_bytes / kPeakBytesPerSecond, flops / kPeakFlopsPerSecond);
}
double BenchPoint::pct_of_roofline() const { return median_us > 0 ? 100.0 * roofline_us() / median_us : NAN; }
double BenchPoint::achieved_tbps() const { return median_us > 0 ? weight_bytes / (median_us * 1e-6) / 1e12 : NAN; }
double BenchPoint::achieved_tflops() const { return median_us > 0 ? flops / (median_us * 1e-6) / 1e12 : NAN; }

double BenchPoint::vllm_reference_us() const {
  if (scale != 1) return -1;  // the reference is for the real shapes only
  for (const auto& r : kVllm)
    if (preset == r.preset && format == r.format && tokens == r.tokens) return r.us;
  return -1;
}

void write_bench_json(const std::string& path, const std::vector<BenchPoint>& points, const std::string& command) {
  std::ostringstream s;
  JsonObject peaks;
  peaks.num("bytes_per_s", kPeakBytesPerSecond).num("flops_per_s", kPeakFlopsPerSecond);
  JsonObject head;
  head.str("benchmark", "moekit one MoE layer: moekit_moe_forward (routing from logits + experts + combine)");
  head.str("moekit_version", moekit_version_string()).str("command", command);
  head.str("device", points.empty() ? "" : points.front().device);
  head.str("roofline", "max(weight_bytes_touched / bytes_per_s, flops / flops_per_s)").add("peaks", peaks.text());
  std::string body = head.text();
  body.pop_back();  // reopen the object to append the points array
  body += ", \"points\": [\n";
  for (size_t i = 0; i < points.size(); ++i) body += "  " + point_json(points[i]) + (i + 1 < points.size() ? ",\n" : "\n");
  body += "]}\n";
  std::ofstream f(path);
  if (!f) throw std::runtime_error("--out: cannot open '" + path + "' for writing");
  f << body;
  if (!f.flush()) throw std::runtime_error("--out: writing '" + path + "' failed");
}

std::string describe_point(const BenchPoint& p) {
  char buf[512];
  if (p.status != "ok") {
    std::snprintf(buf, sizeof buf, "%-14s %-13s T=%-6lld %s: %s", p.preset.c_str(), p.format.c_str(),
                  static_cast<long long>(p.tokens), p.status.c_str(), p.message.c_str());
    return buf;
  }
  const double vllm = p.vllm_reference_us();
  char ref[48] = "";
  if (vllm > 0) std::snprintf(ref, sizeof ref, "  vllm %.0f us (x%.2f)", vllm, p.median_us / vllm);
  std::snprintf(buf, sizeof buf,
                "%-14s %-13s T=%-6lld %10.1f us (min %.1f)  %5.1f experts  %6.2f TB/s  %7.1f TFLOP/s  %5.1f%% of "
                "roofline %.1f us%s  check %.2g  [%s]",
                p.preset.c_str(), p.format.c_str(), static_cast<long long>(p.tokens), p.median_us, p.min_us,
                p.experts_touched, p.achieved_tbps(), p.achieved_tflops(), p.pct_of_roofline(), p.roofline_us(), ref,
                p.check_rel_l2, p.kernel.c_str());
  return buf;
}

}  // namespace moekit_cli
