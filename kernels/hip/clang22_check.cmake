# Compile-only check of the shared kernels for gfx942 (MI300X) / gfx950 (MI350) with Debian 12's clang-22
# (bookworm-security), which knows those processors where Debian's hipcc (clang-15) does not.
# Each .hip file becomes one device code object per target (--offload-device-only, no host side, no bundle):
# proof that the real kernels compile for these ISAs, not a loadable module. Limits (docs/hip.md):
#  - Debian's rocm-device-libs 5.2 has no oclc_isa_version_942/950 bitcode: the gfx940 one stands in, so
#    device-library code that branches on the ISA version sees 9.4.0;
#  - a module for these targets needs a ROCm >= 6 runtime (libamdhip64.so.6), which Debian 12 does not ship.
find_program(MOEKIT_CLANG22 clang++ PATHS /usr/lib/llvm-22/bin NO_DEFAULT_PATH)
if(NOT MOEKIT_CLANG22)
  message(WARNING "MOEKIT_HIP_CLANG22_CHECK is ON but /usr/lib/llvm-22/bin/clang++ is missing "
                  "(MOEKIT_HIP_CLANG22=1 scripts/install_hip_deps.sh)")
  return()
endif()
set(MOEKIT_HIP_CLANG22_ARCHITECTURES "gfx942;gfx950" CACHE STRING "Targets of the clang-22 compile check")
set(moekit_rocm_bitcode_dir "/usr/lib/x86_64-linux-gnu/amdgcn/bitcode" CACHE PATH "rocm-device-libs bitcode")
set(moekit_bitcode_flags)
foreach(bc hip ocml ockl opencl oclc_daz_opt_off oclc_unsafe_math_off oclc_finite_only_off
           oclc_correctly_rounded_sqrt_on oclc_wavefrontsize64_on oclc_isa_version_940 oclc_abi_version_500)
  list(APPEND moekit_bitcode_flags -Xclang -mlink-builtin-bitcode -Xclang ${moekit_rocm_bitcode_dir}/${bc}.bc)
endforeach()
file(GLOB moekit_shared_device_headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/common/*.h
     ${PROJECT_SOURCE_DIR}/kernels/common/device/*)
set(moekit_clang22_objects)
foreach(arch IN LISTS MOEKIT_HIP_CLANG22_ARCHITECTURES)
  foreach(src route_topk routing_plan quantize)
    set(co ${CMAKE_CURRENT_BINARY_DIR}/clang22/${src}.${arch}.co)
    add_custom_command(
      OUTPUT ${co}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/clang22
      COMMAND ${MOEKIT_CLANG22} -x hip -std=c++17 --offload-arch=${arch} --offload-device-only
              --no-gpu-bundle-output -nogpulib -D__AMDGCN_WAVEFRONT_SIZE=64 -mcode-object-version=5 -O3
              -ffp-contract=off -D__HIP_PLATFORM_AMD__ -DMOEKIT_HIP_ARCHS="${arch}" ${moekit_bitcode_flags}
              -I/usr/include ${moekit_hip_includes} ${CMAKE_CURRENT_SOURCE_DIR}/${src}.hip -o ${co}
      # clang ignores -MD with --offload-device-only: depend on the shared headers explicitly.
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src}.hip ${moekit_shared_device_headers}
      COMMENT "clang-22 ${src}.hip -> ${arch} code object (compile check)"
      VERBATIM)
    list(APPEND moekit_clang22_objects ${co})
  endforeach()
endforeach()
add_custom_target(moekit_hip_clang22_check ALL DEPENDS ${moekit_clang22_objects})
set(MOEKIT_HIP_CLANG22_OBJECTS "${moekit_clang22_objects}")
