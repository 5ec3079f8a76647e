#include "cpu/cpu_ops.h"
#include "moekit_core/error.h"
namespace moekit::cpu {
void route(const ExecContext&, const RouterConfig&, const TensorView&, RoutingPlan&) { unsupported("route: not built yet"); }
void build_plan(const ExecContext&, const RouterConfig&, RoutingPlan&) { unsupported("build_plan: not built yet"); }
}
