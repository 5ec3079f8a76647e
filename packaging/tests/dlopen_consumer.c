/*
 * What other languages' FFIs do: no header, no link against libmoekit; dlopen("libmoekit.so.1") through the
 * system search path and resolve functions by name (and by version node, as a versioned-symbol linker would).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef const char* (*version_string_fn)(void);
typedef int32_t (*abi_version_fn)(void);
typedef const char* (*status_string_fn)(int32_t);
typedef int32_t (*context_create_fn)(int32_t backend, int32_t device_id, void** out);
typedef int32_t (*context_get_threads_fn)(void* ctx, int32_t* n);
typedef int32_t (*context_destroy_fn)(void* ctx);
typedef const char* (*last_error_fn)(void);

static void* need(void* lib, const char* name) {
  void* f = dlvsym(lib, name, "MOEKIT_1.0");
  if (f == NULL) fprintf(stderr, "dlopen_consumer: %s@MOEKIT_1.0 not found: %s\n", name, dlerror());
  return f;
}

int main(void) {
  void* lib = dlopen("libmoekit.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "dlopen_consumer: %s\n", dlerror());
    return 1;
  }
  version_string_fn version_string = (version_string_fn)need(lib, "moekit_version_string");
  abi_version_fn abi_version = (abi_version_fn)need(lib, "moekit_abi_version");
  status_string_fn status_string = (status_string_fn)need(lib, "moekit_status_string");
  context_create_fn context_create = (context_create_fn)need(lib, "moekit_context_create");
  context_get_threads_fn get_threads = (context_get_threads_fn)need(lib, "moekit_context_get_num_threads");
  context_destroy_fn context_destroy = (context_destroy_fn)need(lib, "moekit_context_destroy");
  last_error_fn last_error = (last_error_fn)need(lib, "moekit_last_error");
  if (!version_string || !abi_version || !status_string || !context_create || !get_threads || !context_destroy ||
      !last_error)
    return 1;
  /* Internals must not be reachable by name: moekit's C++ code, and the BLAS it links (cblas_sgemm may be found,
   * but then in libopenblas, not in libmoekit). */
  static const char* const internal[] = {"_ZN6moekit6Router3runERKNS_10TensorViewERNS_11RoutingPlanEPv",
                                         "cblas_sgemm"};
  for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); ++i) {
    Dl_info where;
    void* p = dlsym(lib, internal[i]);
    if (p != NULL && dladdr(p, &where) != 0 && where.dli_fname != NULL && strstr(where.dli_fname, "libmoekit")) {
      fprintf(stderr, "dlopen_consumer: libmoekit exports the internal symbol %s\n", internal[i]);
      return 1;
    }
  }
  if (abi_version() != 1) {
    fprintf(stderr, "dlopen_consumer: ABI %d, expected 1\n", (int)abi_version());
    return 1;
  }
  if (strcmp(status_string(1), "invalid argument") != 0) {
    fprintf(stderr, "dlopen_consumer: status_string(1) = \"%s\"\n", status_string(1));
    return 1;
  }
  /* Backend 1 = MOEKIT_BACKEND_CPU. A bad call must fail with a message, not crash. */
  void* ctx = NULL;
  int32_t threads = 0;
  if (context_create(1, 0, &ctx) != 0 || get_threads(ctx, &threads) != 0 || threads < 1) {
    fprintf(stderr, "dlopen_consumer: CPU context: %s\n", last_error());
    return 1;
  }
  if (get_threads(ctx, NULL) != 1 || strlen(last_error()) == 0) {
    fprintf(stderr, "dlopen_consumer: a NULL output was not rejected with a message\n");
    return 1;
  }
  context_destroy(ctx);
  printf("dlopen_consumer: libmoekit.so.1 %s, ABI %d, %d CPU threads; rejected NULL with \"%s\"\n",
         version_string(), (int)abi_version(), (int)threads, last_error());
  dlclose(lib);
  return 0;
}
