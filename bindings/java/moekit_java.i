/*
 * Java part of the SWIG interface (included by ../moekit.i; generated into package org.moekit.jni).
 *
 * Enums become int constants (the idiomatic Java enums live in org.moekit). mkb_data is a `long` address:
 * a direct ByteBuffer's (from mkb_direct_buffer_address) or a device pointer. The handles' proxies keep
 * SWIG's finalizer as the safety net; org.moekit's classes close them explicitly (AutoCloseable).
 */
%include "enumtypeunsafe.swg"
%javaconst(1);

%typemap(jni) mkb_data "jlong"
%typemap(jtype) mkb_data "long"
%typemap(jstype) mkb_data "long"
%typemap(in) mkb_data %{ $1 = (void*)(intptr_t)$input; %}
%typemap(javain) mkb_data "$javainput"

/* The address of a direct buffer's memory (0 for a heap buffer, which has no stable address). */
%{
typedef void* mkb_direct_buffer;
%}
typedef void* mkb_direct_buffer;
%typemap(jni) mkb_direct_buffer "jobject"
%typemap(jtype) mkb_direct_buffer "java.nio.Buffer"
%typemap(jstype) mkb_direct_buffer "java.nio.Buffer"
%typemap(javain) mkb_direct_buffer "$javainput"
%typemap(in) mkb_direct_buffer %{ $1 = $input ? (*jenv)->GetDirectBufferAddress(jenv, $input) : NULL; %}
%inline %{
int64_t mkb_direct_buffer_address(mkb_direct_buffer buffer) { return (int64_t)(intptr_t)buffer; }
%}
