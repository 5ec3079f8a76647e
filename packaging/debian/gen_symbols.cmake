# Expands the symbols template (debian/libmoekit1.symbols: one "(symver)" pattern per version node) into the
# binary package's DEBIAN/symbols, which lists every exported symbol with the release that introduced it.
# -c4 fails the build when the library exports a symbol no template line covers (a new version node in
# capi/moekit.map needs its own line: " (symver)MOEKIT_1.1 1.1.0") or stops exporting one.
# Usage: cmake -DGENSYMBOLS=dpkg-gensymbols -DLIB=libmoekit.so.1.x.y -DTEMPLATE=... -DVERSION=1.x.y -DOUT=... -P
get_filename_component(work "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${work}/gensymbols/debian")
file(WRITE "${work}/gensymbols/debian/control" "")  # dpkg-gensymbols insists on a source tree to run in
execute_process(COMMAND ${GENSYMBOLS} -plibmoekit1 -v${VERSION} -e${LIB} -I${TEMPLATE} -O${OUT}.new -c4 -q
                WORKING_DIRECTORY "${work}/gensymbols" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "dpkg-gensymbols: ${LIB} does not match ${TEMPLATE}:\n${out}")
endif()
file(RENAME "${OUT}.new" "${OUT}")
