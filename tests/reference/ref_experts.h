#pragma once
// filled in by the experts slice
namespace moekit_ref {}
