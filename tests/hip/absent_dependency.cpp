// The library missing_dep_module.cpp links against; the test build puts it where the loader never looks.
extern "C" __attribute__((visibility("default"))) int moekit_test_absent_dependency(void) { return 0; }
