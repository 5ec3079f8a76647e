#include "cpu/cpu_ops.h"
#include "moekit_core/error.h"
namespace moekit::cpu {
void quantize(const ExecContext&, const QuantizerConfig&, const TensorView&, const TensorView&, const TensorView&) { unsupported("quantize: not built yet"); }
void dequantize(const ExecContext&, const QuantizerConfig&, const TensorView&, const TensorView&, const TensorView&) { unsupported("dequantize: not built yet"); }
}
