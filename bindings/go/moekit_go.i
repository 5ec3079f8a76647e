/*
 * Go part of the SWIG interface (included by ../moekit.i; generated with -go -cgo -intgosize 64).
 *
 * mkb_data is unsafe.Pointer: a Go slice's first element passed straight into the one C call that uses it
 * (cgo's rules allow that for memory without Go pointers, and the default cgocheck verifies it), or a device
 * address. It is never stored by C.
 */
%insert(cgo_comment_typedefs) %{
typedef void* mkb_data;
%}
%typemap(gotype) mkb_data "unsafe.Pointer"
%typemap(in) mkb_data %{ $1 = (void*)$input; %}
