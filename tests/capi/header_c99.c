/* Compiled with -std=c99 -pedantic -Werror: the public header must stay plain C. */
#include "moekit/moekit.h"

int moekit_header_c99_probe(void);
int moekit_header_c99_probe(void) {
  moekit_router_desc router = MOEKIT_ROUTER_DESC_INIT;
  moekit_experts_desc experts = MOEKIT_EXPERTS_DESC_INIT;
  moekit_quantizer_desc quantizer = MOEKIT_QUANTIZER_DESC_INIT;
  moekit_run_report report = MOEKIT_RUN_REPORT_INIT;
  moekit_backend_info info = MOEKIT_BACKEND_INFO_INIT;
  moekit_platform_contract contract = MOEKIT_PLATFORM_CONTRACT_INIT;
  return (int)(router.struct_size + experts.struct_size + quantizer.struct_size + report.struct_size +
               info.struct_size + contract.struct_size);
}
