#pragma once
// filled in by the router slice
namespace moekit_ref {}
