// A stand-in libmoekit_hip.so whose runtime dependency is not installed (as the real module is on a machine
// without libamdhip64): core must name the missing library, not report "module not found".
#include "moekit_plugin.h"

extern "C" int moekit_test_absent_dependency(void);  // defined in a library the loader cannot find

extern "C" __attribute__((visibility("default"))) const moekit_plugin_table* moekit_plugin_get_table(uint32_t) {
  return moekit_test_absent_dependency() == 0 ? nullptr : nullptr;
}
