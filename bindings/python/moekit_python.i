/*
 * Python part of the SWIG interface (included by ../moekit.i).
 *
 * SWIG runs with -threads: every wrapped call releases the GIL around the C call itself, so compute calls
 * (router, quantizer, experts) let other Python threads run. Helpers that touch Python objects are %nothread.
 */

/* mkb_data: an int address (or None for NULL). The Python layer gets it from DLPack or the buffer protocol
 * and keeps the owner alive for the duration of the call. */
%typemap(in) mkb_data {
  if ($input == Py_None) {
    $1 = NULL;
  } else {
    $1 = PyLong_AsVoidPtr($input);
    if ($1 == NULL && PyErr_Occurred()) SWIG_fail;
  }
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_POINTER) mkb_data {
  $1 = ($input == Py_None || PyLong_Check($input)) ? 1 : 0;
}

/* Address of the first byte of an object exporting the buffer protocol (a memoryview the caller keeps alive,
 * which holds the export and so pins the memory). writable != 0 asks for a writable buffer and fails with
 * BufferError on a read-only one. */
%nothread mkb_py_buffer_address;
%inline %{
PyObject* mkb_py_buffer_address(PyObject* obj, int writable) {
  Py_buffer view;
  int flags = PyBUF_STRIDES | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(obj, &view, flags) != 0) return NULL;
  PyObject* address = PyLong_FromVoidPtr(view.buf);
  PyBuffer_Release(&view);
  return address;
}
%}
