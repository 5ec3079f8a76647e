// MoE layer vectors: filled in once the expert reference lands.
#include "vectors/vector_files.h"
void write_moe_layer_cases(moekit_vectors::VectorWriter&) {}
