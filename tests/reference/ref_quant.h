#pragma once
// filled in by the quant slice
namespace moekit_ref {}
