#include "cpu/cpu_ops.h"
#include "moekit_core/error.h"
namespace moekit::cpu {
std::unique_ptr<PreparedExperts> prepare_experts(const ExecContext&, const ExpertsConfig&, const ExpertWeights&) { unsupported("experts: not built yet"); }
size_t experts_workspace_size(const ExpertsConfig&, int64_t, int32_t) { return 0; }
void run_experts(const ExecContext&, const ExpertsConfig&, const PreparedExperts&, const TensorView&, const RoutingPlan&, const TensorView&, void*, size_t, RunReport&) { unsupported("experts: not built yet"); }
}
